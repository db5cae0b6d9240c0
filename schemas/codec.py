"""CloudEvents Kafka protocol binding (binary mode): `ce_*` headers, orjson value, entity key.

Structured-mode records (`content-type: application/cloudevents+json`) are read too, so any
CloudEvents producer can talk to us. The distributed-tracing extension travels as
`ce_traceparent`/`ce_tracestate`; other unknown `ce_*` extensions are ignored.
Given a `KeyRing`, personal fields are sealed on the way out and opened on the way in
(`personal`); `masked_record` shows a record to people with those fields masked.
"""

from collections.abc import ItemsView, Iterable, Mapping
from typing import Any

import orjson
from pydantic import ValidationError

from bizbus.schemas.envelope import Envelope
from bizbus.schemas.errors import SchemaError
from bizbus.schemas.events import parse_event
from bizbus.schemas.personal import (
    KEY_ID_HEADER,
    KeyRing,
    mask_data,
    open_data,
    personal_paths,
    seal_data,
)
from bizbus.schemas.registry import EVENT_MODELS, EVENT_TYPES

__all__ = [
    "CONTENT_TYPE_HEADER",
    "Headers",
    "decode_record",
    "encode_record",
    "header_dict",
    "masked_record",
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
    "traceparent",
    "tracestate",
)
_HEADER_NAMES = tuple((name, _CE_PREFIX + name) for name in _ATTRIBUTES)

Headers = list[tuple[str, bytes]]
"""Kafka record headers as aiokafka and faust take them."""


def encode_record(
    event: Envelope[Any], *, keys: KeyRing | None = None
) -> tuple[bytes, bytes, Headers]:
    """Encode an event as a binary-mode Kafka record.

    Args:
        event: The event.
        keys: Seals the payload's personal fields, if it has any, with its active key (named
            in the `ce_piikeyid` header). None writes them in clear: tests and tools only, a
            worker always passes its ring.

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
    if keys is None or not personal_paths(event.type):  # nothing to seal: straight to JSON
        return (
            event.subject.encode(),
            event.data.__pydantic_serializer__.to_json(event.data),
            headers,
        )
    data = seal_data(event.data.model_dump(mode="json"), event.type, event_id=event.id, keys=keys)
    headers.append((KEY_ID_HEADER, keys.active.encode()))
    return event.subject.encode(), orjson.dumps(data), headers


RawHeaders = Iterable[tuple[str, bytes]] | Mapping[str, bytes] | None
"""Headers as any Kafka client hands them over."""


def header_dict(headers: RawHeaders) -> dict[str, str]:
    """Return headers as lower-case name → text (the last one wins on repeats).

    Raises:
        SchemaError: A header value is not UTF-8.
    """
    items = headers.items() if isinstance(headers, Mapping) else (headers or ())
    if not isinstance(items, list | tuple | ItemsView):
        items = list(items)  # read twice when a value is odd
    try:  # every record passes here: one comprehension, the careful loop only for odd ones
        return {name.lower(): raw.decode() for name, raw in items}
    except (UnicodeDecodeError, AttributeError):
        pass
    result: dict[str, str] = {}
    for name, raw in items:
        try:
            result[name.lower()] = raw.decode() if isinstance(raw, bytes) else str(raw)
        except UnicodeDecodeError:
            raise SchemaError("header is not UTF-8", field=f"headers.{name}") from None
    return result


def decode_record(
    value: bytes | None, headers: RawHeaders, *, keys: KeyRing | None = None
) -> Envelope[Any]:
    """Decode a Kafka record (binary or structured CloudEvents mode) into a typed event.

    Args:
        value: The record value.
        headers: The record headers (aiokafka's list of pairs or a mapping).
        keys: Opens sealed personal fields (a record in clear needs none).

    Returns:
        The envelope model of the record's `type`; `data` is its payload model.

    Raises:
        SchemaError: Names the event type and the first failing field; or the record's
            personal fields are sealed and `keys` cannot open them.
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
    attributes: dict[str, Any] = {
        name: text[header] for name, header in _HEADER_NAMES if header in text
    }
    attributes["datacontenttype"] = media_type
    key_id = text.get(KEY_ID_HEADER)
    if key_id is None and value and event_type is not None and event_type in EVENT_MODELS:
        event = _decode_typed(event_type, value, attributes)
        if event is not None:
            return event
    try:
        data = orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        raise SchemaError(
            "record value is not valid JSON", event_type=event_type, field="data"
        ) from None
    if key_id is not None:
        if keys is None:
            raise SchemaError(
                "personal data is sealed and no key ring was given",
                event_type=event_type,
                field=f"headers.{KEY_ID_HEADER}",
            )
        try:
            data = open_data(data, event_type or "", event_id=str(attributes.get("id", "")),
                             key_id=key_id, keys=keys)  # fmt: skip
        except SchemaError as error:
            raise SchemaError(str(error), event_type=event_type, field="data") from None
    if event_type is not None and event_type in EVENT_MODELS:
        event = _decode_typed(event_type, data, attributes)
        if event is not None:
            return event
    attributes["data"] = data
    return parse_event(attributes)


def _decode_typed(event_type: str, data: Any, attributes: dict[str, Any]) -> Envelope[Any] | None:
    """Validate a record of a known type by its own models (the hot path).

    The payload model validates `data` (a record in clear: its bytes, no dict in between), then
    the envelope takes the attributes and the payload as built. Returns None when either fails:
    the general path then finds the same error in the same order as it always did (bad records
    are rare).
    """
    model = EVENT_TYPES[event_type]
    try:
        payload = (
            model.model_validate_json(data)
            if isinstance(data, bytes)
            else model.model_validate(data)
        )
        return EVENT_MODELS[event_type].model_validate({**attributes, "data": payload})
    except ValidationError:
        return None


def masked_record(value: bytes | None, headers: RawHeaders) -> Any:
    """Return a record's `data` as JSON with every personal field masked, to show people.

    Binary mode only (what bizbus writes). A record of an unknown type, or one that is not
    JSON, is not shown at all (None): nothing says which of its fields are personal.
    """
    event_type = header_dict(headers).get("ce_type")
    if event_type is None or event_type not in EVENT_TYPES:
        return None
    try:
        data = orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        return None
    return mask_data(data, event_type)
