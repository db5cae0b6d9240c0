"""The event-type registry: type string → payload model → typed envelope, one union to decode.

Each registered type gets an `Envelope[P]` subclass whose `type` is a literal; `EventUnion` is
the discriminated union of them all, so pydantic picks the payload model from `type` in one pass.
"""

from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Any, Literal, Union, cast

from pydantic import Field, TypeAdapter, create_model

from bizbus.schemas.envelope import EVENT_TYPE_RE, Envelope
from bizbus.schemas.payloads import ALL_PAYLOADS
from bizbus.schemas.values import Payload

__all__ = [
    "DATASCHEMA_BASE",
    "EVENT_ADAPTER",
    "EVENT_MODELS",
    "EVENT_TYPES",
    "dataschema_for",
    "event_model",
    "payload_model",
]

DATASCHEMA_BASE = "urn:bizbus:schema:"
"""Base of `dataschema` URIs; the contract file is schemas/contracts/jsonschema/<type>.json."""


def dataschema_for(event_type: str) -> str:
    """Return the `dataschema` URI of an event type (also the `$id` of its JSON Schema)."""
    return f"{DATASCHEMA_BASE}{event_type}"


def _build_registry(
    payloads: tuple[type[Payload], ...],
) -> dict[str, type[Payload]]:
    registry: dict[str, type[Payload]] = {}
    for model in payloads:
        event_type = model.EVENT_TYPE
        if not EVENT_TYPE_RE.match(event_type):
            raise ValueError(f"{model.__name__}.EVENT_TYPE {event_type!r} breaks the naming rule")
        if event_type in registry:
            raise ValueError(f"{event_type} registered twice")
        major = event_type.rsplit(".v", 1)[1]
        if not model.__name__.endswith(f"V{major}"):
            raise ValueError(f"{model.__name__} does not end in V{major} like its type")
        registry[event_type] = model
    return registry


def _envelope_model(event_type: str, payload: type[Payload]) -> type[Envelope[Any]]:
    literal: Any = Literal[event_type]  # one literal type per registered event type
    name = payload.__name__.removesuffix("V" + event_type.rsplit(".v", 1)[1]) + "Event"
    return cast(
        "type[Envelope[Any]]",
        create_model(
            name,
            __base__=Envelope[payload],  # type: ignore[valid-type]
            __module__=__name__,
            type=(
                literal,
                Field(description="Event type, bizbus.<domain>.<entity>.<past-verb>.v<major>."),
            ),
        ),
    )


EVENT_TYPES: Mapping[str, type[Payload]] = MappingProxyType(_build_registry(ALL_PAYLOADS))
"""Event type → payload model."""

EVENT_MODELS: Mapping[str, type[Envelope[Any]]] = MappingProxyType(
    {event_type: _envelope_model(event_type, model) for event_type, model in EVENT_TYPES.items()}
)
"""Event type → envelope model whose `type` is that literal and whose `data` is that payload."""

_UNION: Any = Annotated[
    Union[tuple(EVENT_MODELS.values())],  # noqa: UP007 - built from a runtime tuple
    Field(discriminator="type"),
]
EVENT_ADAPTER: TypeAdapter[Envelope[Any]] = TypeAdapter(_UNION)
"""Validates any bizbus event (a dict or JSON) into the envelope model of its `type`."""


def payload_model(event_type: str) -> type[Payload]:
    """Return the payload model of an event type.

    Raises:
        KeyError: The type is not registered.
    """
    try:
        return EVENT_TYPES[event_type]
    except KeyError:
        raise KeyError(f"unknown event type {event_type!r}") from None


def event_model(event_type: str) -> type[Envelope[Any]]:
    """Return the envelope model of an event type.

    Raises:
        KeyError: The type is not registered.
    """
    payload_model(event_type)  # the same KeyError for an unknown type
    return EVENT_MODELS[event_type]
