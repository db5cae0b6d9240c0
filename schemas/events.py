"""Build and parse bizbus events as Python objects (no Kafka): `make_event`, `parse_event`.

Both raise `SchemaError` (never a raw pydantic error), naming the event type and the first
failing field, so callers have one exception to dead-letter on.

`make_event` is on every stage's hot path and its parts are nearly always valid already (a
payload model, a cause's ids, a literal origin): when plain checks show every attribute meets
the envelope's constraints it builds the envelope without pydantic's validation, which would
find nothing; anything else takes the validating path, which raises as before. Decoding (data
from outside) always validates.
"""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import ValidationError

from bizbus.schemas.envelope import SYSTEMS, TRACEPARENT_RE, Envelope, P, System
from bizbus.schemas.errors import SchemaError
from bizbus.schemas.ids import new_event_id
from bizbus.schemas.registry import EVENT_ADAPTER, EVENT_TYPES, dataschema_for, event_model

__all__ = ["event_to_dict", "make_event", "parse_event", "schema_error_from"]


def schema_error_from(error: ValidationError, event_type: str | None) -> SchemaError:
    """Turn a pydantic error about an envelope into a `SchemaError` naming type and field."""
    first = error.errors(include_input=False, include_url=False)[0]
    if first["type"] in ("union_tag_invalid", "union_tag_not_found"):
        reason = "unknown event type" if event_type else "event type missing"
        return SchemaError(reason, event_type=event_type, field="type")
    loc = list(first["loc"])
    if loc and loc[0] == event_type:
        loc = loc[1:]  # the discriminated union puts the tag first
    field = ".".join(str(part) for part in loc) or None
    return SchemaError(f"invalid event: {first['msg']}", event_type=event_type, field=field)


def make_event(
    payload: P,
    *,
    source: str,
    correlationid: str,
    origin: System,
    subject: str | None = None,
    causationid: str | None = None,
    entityversion: int | None = None,
    time: datetime | None = None,
    id: str | None = None,
    traceparent: str | None = None,
    tracestate: str | None = None,
) -> Envelope[P]:
    """Wrap a payload in a CloudEvents envelope of its registered type.

    Args:
        payload: The business payload; its class decides `type` and `dataschema`.
        source: URI reference of the producer, e.g. ``/bizbus/connectors/crm/salesforce``.
        correlationid: Shared by every event of the business case.
        origin: System that authored the change (``crm``, ``erp``, ``oa``, ``bizbus``).
        subject: Canonical entity key; defaults to ``payload.entity_key()``.
        causationid: `id` of the event that caused this one.
        entityversion: Monotonic version of the entity in its system of record.
        time: When the change happened; defaults to now (UTC). Must be timezone-aware.
        id: Event id; defaults to a fresh UUID.
        traceparent: W3C traceparent of the context the event is created in, if traced.
        tracestate: W3C tracestate going with `traceparent`.

    Returns:
        The frozen envelope, typed by its payload.

    Raises:
        SchemaError: An attribute is invalid (naive time, unknown origin, ...) or the payload's
            type is not registered.
    """
    event_type = type(payload).EVENT_TYPE
    try:
        model = event_model(event_type)
    except KeyError:
        raise SchemaError("payload type is not registered", event_type=event_type) from None
    fields: dict[str, Any] = {
        "id": id or new_event_id(),
        "source": source,
        "type": event_type,
        "subject": subject if subject is not None else payload.entity_key(),
        "time": time or datetime.now(UTC),
        "dataschema": dataschema_for(event_type),
        "correlationid": correlationid,
        "causationid": causationid,
        "origin": origin,
        "entityversion": entityversion,
        "traceparent": traceparent,
        "tracestate": tracestate,
        "data": payload,
    }
    if _valid_as_is(fields):
        return _built(model, fields)
    try:
        event = model(**fields)
    except ValidationError as error:
        raise schema_error_from(error, event_type) from None
    return event  # the registry pairs each type with its payload model


_DEFAULTS = {"specversion": "1.0", "datacontenttype": "application/json"}
_TRACESTATE_MAX = 512


def _text(value: object) -> bool:
    return type(value) is str and value != ""


def _valid_as_is(fields: Mapping[str, Any]) -> bool:
    """True when `fields` meet every constraint of the envelope exactly as they are.

    Plain types only (no coercion, no subclasses): a value pydantic would convert or refuse
    fails here and goes through validation instead, so both paths build the same event.
    """
    time = fields["time"]
    version = fields["entityversion"]
    trace = fields["traceparent"]
    state = fields["tracestate"]
    cause = fields["causationid"]
    return (
        type(fields["data"]) is EVENT_TYPES[fields["type"]]
        and _text(fields["id"])
        and _text(fields["source"])
        and _text(fields["subject"])
        and _text(fields["correlationid"])
        and (cause is None or type(cause) is str)
        and fields["origin"] in SYSTEMS
        and type(fields["origin"]) is str
        and type(time) is datetime
        and time.utcoffset() is not None
        and (version is None or (type(version) is int and version >= 0))
        and (trace is None or (type(trace) is str and TRACEPARENT_RE.match(trace) is not None))
        and (state is None or (type(state) is str and len(state) <= _TRACESTATE_MAX))
    )


def _built(model: type[Envelope[Any]], fields: dict[str, Any]) -> Envelope[Any]:
    """Return the envelope of already valid `fields`, as validation would have built it."""
    event = model.__new__(model)
    values = {**_DEFAULTS, **fields}
    object.__setattr__(event, "__dict__", {name: values[name] for name in model.model_fields})
    object.__setattr__(event, "__pydantic_fields_set__", set(fields))
    object.__setattr__(event, "__pydantic_extra__", None)
    object.__setattr__(event, "__pydantic_private__", None)
    return event


def parse_event(event: Mapping[str, Any] | bytes | str) -> Envelope[Any]:
    """Validate a structured event (attributes and `data` in one JSON object).

    Raises:
        SchemaError: Not JSON, not an object, unknown type, or a field is invalid.
    """
    if isinstance(event, bytes | str):
        try:
            event = orjson.loads(event)
        except orjson.JSONDecodeError:
            raise SchemaError("event is not valid JSON") from None
    if not isinstance(event, Mapping):
        raise SchemaError("event is not a JSON object")
    event_type = event.get("type")
    event_type = event_type if isinstance(event_type, str) else None
    try:
        return EVENT_ADAPTER.validate_python(event)
    except ValidationError as error:
        raise schema_error_from(error, event_type) from None


def event_to_dict(event: Envelope[Any]) -> dict[str, Any]:
    """Return the structured JSON form of an event (what `parse_event` reads back)."""
    return event.model_dump(mode="json", exclude_none=True)
