"""Business-SLA monitoring: a step a deal must reach in time, and the alerts when it does not.

A rule (e.g. `order-to-erp`: a CRM order activated must have an ERP sales order) watches one
record per deal. Flows signal its steps as SlaStepObservedV1 on one topic keyed
`<rule>:<record key>`, so the start and the end of a watch meet in one partition whatever
topics they came from. A watch past its due time raises SlaBreachedV1; it clears
(SlaClearedV1) when the step arrives.
Labels name records by id only: no personal data travels here.
"""

from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field

from bizbus.schemas.values import NonEmptyStr, Payload

__all__ = ["SlaBreachedV1", "SlaClearedV1", "SlaStepObservedV1"]


class _Watched(Payload):
    """Which rule watches which record."""

    rule: NonEmptyStr = Field(description="SLA rule name.", examples=["order-to-erp"])
    subject: NonEmptyStr = Field(
        description="Key of the watched record in its rule (e.g. the CRM order id)."
    )
    record: NonEmptyStr = Field(
        description="The record named for people, by id only.", examples=["CRM order 801xx"]
    )

    def entity_key(self) -> str:
        """Return `<rule>:<subject>`: a watch's steps and alerts share one partition."""
        return f"{self.rule}:{self.subject}"


class SlaStepObservedV1(_Watched):
    """A step of a watched record: started (due by `due_at`), done, or no longer expected.

    The monitor's own sweep adds `overdue` (found late) and `expired` (closed long enough to
    forget): the watch's state changes only where its partition is consumed.
    """

    EVENT_TYPE: ClassVar[str] = "bizbus.ops.sla-step.observed.v1"

    step: Literal["started", "done", "cancelled", "overdue", "expired"] = Field(
        description="What happened."
    )
    due_at: AwareDatetime | None = Field(
        default=None, description="When the awaited step is due (started steps only)."
    )
    at: AwareDatetime = Field(description="When the step happened in its system.")


class SlaBreachedV1(_Watched):
    """A watched record missed its due time: the awaited step has not happened."""

    EVENT_TYPE: ClassVar[str] = "bizbus.ops.sla.breached.v1"

    awaited: NonEmptyStr = Field(
        description="The step that is late, for people.", examples=["an ERP sales order"]
    )
    due_at: AwareDatetime = Field(description="When it was due.")
    breached_at: AwareDatetime = Field(description="When the monitor found it late.")


class SlaClearedV1(_Watched):
    """A breached watch caught up: the awaited step arrived (or was no longer expected)."""

    EVENT_TYPE: ClassVar[str] = "bizbus.ops.sla.cleared.v1"

    due_at: AwareDatetime = Field(description="When it was due.")
    cleared_at: AwareDatetime = Field(description="When the step arrived.")
    late_by_s: float = Field(ge=0, description="How late it arrived, in seconds.")
    outcome: Literal["done", "cancelled"] = Field(description="Caught up, or no longer expected.")
