"""CloudEvents Kafka protocol binding (binary mode): `ce_*` headers, orjson value, entity key.

Structured-mode records (`content-type: application/cloudevents+json`) are read too, so any
CloudEvents producer can talk to us. Unknown `ce_*` extensions (tracing, ...) are ignored.
"""

from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from bizbus.schemas.envelope import Envelope
from bizbus.schemas.errors import SchemaError
from bizbus.schemas.events import parse_event

__all__ = [
    "CONTENT_TYPE_HEADER",
    "Headers",
    "decode_record",
    "encode_record",
    "header_dict",
]

CONTENT_TYPE_HEADER = "content-type"
_CE_PREFIX = "ce_"
_STRUCTURED = "application/cloudevents+json"
_ATTRIBUTES = (
    "specversion",
    "id",
    "source",
    "type",
    "subject",
    "time",
    "dataschema",
    "correlationid",
    "causationid",
    "origin",
    "entityversion",
)
_HEADER_NAMES = tuple((name, _CE_PREFIX + name) for name in _ATTRIBUTES)

Headers = list[tuple[str, bytes]]
"""Kafka record headers as aiokafka and faust take them."""


def encode_record(event: Envelope[Any]) -> tuple[bytes, bytes, Headers]:
    """Encode an event as a binary-mode Kafka record.

    Returns:
        ``(key, value, headers)``: key is the subject (canonical entity key) in UTF-8, value
        the JSON of `data`, headers the `ce_*` attributes plus `content-type`.
    """
    fields = event.__dict__  # every stage's hot path: read the attributes directly
    headers: Headers = [(CONTENT_TYPE_HEADER, fields["datacontenttype"].encode())]
    for name, header in _HEADER_NAMES:
        value = fields[name]
        if value is None:
            continue
        if name == "time":
            text = value.isoformat()
            value = text[:-6] + "Z" if text.endswith("+00:00") else text
        headers.append((header, (value if isinstance(value, str) else str(value)).encode()))
    value_bytes = orjson.dumps(event.data.model_dump(mode="json"))
    return event.subject.encode(), value_bytes, headers


RawHeaders = Iterable[tuple[str, bytes]] | Mapping[str, bytes] | None
"""Headers as any Kafka client hands them over."""


def header_dict(headers: RawHeaders) -> dict[str, str]:
    """Return headers as lower-case name → text (the last one wins on repeats).

    Raises:
        SchemaError: A header value is not UTF-8.
    """
    items = headers.items() if isinstance(headers, Mapping) else (headers or ())
    result: dict[str, str] = {}
    for name, raw in items:
        try:
            result[name.lower()] = raw.decode() if isinstance(raw, bytes) else str(raw)
        except UnicodeDecodeError:
            raise SchemaError("header is not UTF-8", field=f"headers.{name}") from None
    return result


def decode_record(value: bytes | None, headers: RawHeaders) -> Envelope[Any]:
    """Decode a Kafka record (binary or structured CloudEvents mode) into a typed event.

    Args:
        value: The record value.
        headers: The record headers (aiokafka's list of pairs or a mapping).

    Returns:
        The envelope model of the record's `type`; `data` is its payload model.

    Raises:
        SchemaError: Names the event type and the first failing field.
    """
    text = header_dict(headers)
    content_type = text.get(CONTENT_TYPE_HEADER, "application/json")
    media_type = content_type.split(";", 1)[0].strip().lower()
    has_ce = any(name.startswith(_CE_PREFIX) for name in text)
    if not has_ce and media_type == _STRUCTURED:
        return parse_event(value or b"")
    event_type = text.get("ce_type")
    if not has_ce:
        raise SchemaError("record has no ce_* headers", field="headers.ce_type")
    if media_type != "application/json":
        raise SchemaError(
            "data content type is not application/json",
            event_type=event_type,
            field="datacontenttype",
        )
    try:
        data = orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        raise SchemaError(
            "record value is not valid JSON", event_type=event_type, field="data"
        ) from None
    attributes: dict[str, Any] = {
        name: text[_CE_PREFIX + name] for name in _ATTRIBUTES if _CE_PREFIX + name in text
    }
    attributes["datacontenttype"] = media_type
    attributes["data"] = data
    return parse_event(attributes)
