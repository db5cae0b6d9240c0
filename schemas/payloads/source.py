"""Raw feeds (`src.<system>.<entity>` topics): a record as the source system returned it.

Connectors publish these untouched so a mapping bug can be fixed and replayed later; flows turn
them into canonical `biz.*` events. Key: ``<object>:<record id>``.
"""

from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field, JsonValue

from bizbus.schemas.values import PERSONAL, NonEmptyStr, Payload

__all__ = ["SourceRecordCapturedV1"]


class SourceRecordCapturedV1(Payload):
    """A record was read from a source system (poll, CDC or webhook)."""

    EVENT_TYPE: ClassVar[str] = "bizbus.integration.source-record.captured.v1"

    system: Literal["crm", "erp", "oa"] = Field(description="System the record comes from.")
    object_name: NonEmptyStr = Field(
        description="Object/model name in that system.", examples=["Order", "sale.order"]
    )
    record_id: NonEmptyStr = Field(description="Record id in that system.")
    change_type: Literal["create", "update", "delete"] | None = Field(
        default=None, description="Kind of change, when the source says."
    )
    changed_fields: tuple[str, ...] = Field(
        default=(), description="Fields changed, when the source says (CDC, webhooks)."
    )
    modified_at: AwareDatetime = Field(description="Source modification timestamp (cursor).")
    record: dict[str, JsonValue] = Field(
        description="The record as returned by the API; personal data as a whole, since a "
        "source system's fields (custom ones included) may hold any.",
        json_schema_extra=PERSONAL,
    )

    def entity_key(self) -> str:
        """Return ``<object>:<record id>``."""
        return f"{self.object_name}:{self.record_id}"
