"""The CloudEvents 1.0 envelope every bizbus event travels in, plus our four extensions.

It also carries the CloudEvents distributed-tracing extension (`traceparent`, `tracestate`):
the W3C trace context in which the event was created, so one trace follows a deal on every hop.

`Envelope[P]` is generic over the payload; the registry builds one subclass per event type whose
`type` is a literal, so the union of them decodes any record by its `type` alone.
"""

import re
from typing import Generic, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from bizbus.schemas.values import NonEmptyStr, Payload

__all__ = ["EVENT_TYPE_PATTERN", "SYSTEMS", "TRACEPARENT_PATTERN", "Envelope", "P", "System"]

P = TypeVar("P", bound=Payload)

EVENT_TYPE_PATTERN = r"^bizbus(\.[a-z][a-z0-9-]*){3}\.v[1-9][0-9]*$"
"""``bizbus.<domain>.<entity>.<past-verb>.v<major>``: lowercase, hyphens inside a segment."""

EVENT_TYPE_RE = re.compile(EVENT_TYPE_PATTERN)

TRACEPARENT_PATTERN = r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"
"""W3C Trace Context `traceparent`: version-traceid-parentid-flags, lowercase hex."""

TRACEPARENT_RE = re.compile(TRACEPARENT_PATTERN)

System = Literal["crm", "erp", "oa", "bizbus"]
SYSTEMS: tuple[str, ...] = ("crm", "erp", "oa", "bizbus")


class Envelope(BaseModel, Generic[P]):
    """A CloudEvents 1.0 event with bizbus extensions and a typed `data` payload.

    Build one with `schemas.make_event`; decode one with `schemas.decode_record`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    specversion: Literal["1.0"] = Field(
        default="1.0", description="CloudEvents specification version; always 1.0."
    )
    id: NonEmptyStr = Field(
        description="Unique id of this event (UUID); with `source` it identifies a duplicate."
    )
    source: NonEmptyStr = Field(
        description="URI reference of the producer, e.g. /bizbus/connectors/crm/salesforce.",
        examples=["/bizbus/connectors/crm/salesforce"],
    )
    type: str = Field(
        pattern=EVENT_TYPE_PATTERN,
        description="Event type, bizbus.<domain>.<entity>.<past-verb>.v<major>.",
        examples=["bizbus.sales.order.placed.v1"],
    )
    subject: NonEmptyStr = Field(
        description="Canonical key of the entity (also the Kafka record key).",
        examples=["801J8000003aBcDIAU"],
    )
    time: AwareDatetime = Field(
        description="When the change happened in the authoring system (timezone-aware)."
    )
    datacontenttype: Literal["application/json"] = Field(
        default="application/json", description="Media type of `data`; always JSON."
    )
    dataschema: str | None = Field(
        default=None,
        description="URI of the JSON Schema `data` adheres to (see schemas/contracts/).",
    )
    correlationid: NonEmptyStr = Field(
        description="Shared by every event of one business case (one deal, one trip)."
    )
    causationid: str | None = Field(
        default=None, description="`id` of the event that caused this one, if any."
    )
    origin: System = Field(
        description="System that authored the change (crm, erp, oa, or bizbus itself)."
    )
    entityversion: int | None = Field(
        default=None,
        ge=0,
        description="Monotonic version of the entity in its system of record, if known.",
    )
    traceparent: str | None = Field(
        default=None,
        description="W3C traceparent of the context the event was created in (distributed "
        "tracing extension); a malformed one is dropped, as W3C Trace Context says.",
        examples=["00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"],
    )
    tracestate: str | None = Field(
        default=None,
        max_length=512,
        description="W3C tracestate that goes with `traceparent` (vendor-specific trace data).",
    )
    data: P = Field(description="The business payload; its model is chosen by `type`.")

    @field_validator("traceparent", mode="before")
    @classmethod
    def _drop_malformed_trace(cls, value: object) -> object:
        """Restart the trace rather than refuse the event: tracing must never cost a record."""
        if value is None or (isinstance(value, str) and TRACEPARENT_RE.match(value)):
            return value
        return None
