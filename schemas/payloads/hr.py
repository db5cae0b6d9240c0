"""OA travel approvals (Feishu approval v4 trip groups) and the ERP/HR business-trip record.

Key: the OA approval instance code, shared by the approval, its revocation and the trip record,
so a revocation always lands after the approval it cancels.
"""

from datetime import date
from enum import StrEnum
from typing import ClassVar, Literal, Self

from pydantic import AwareDatetime, Field, model_validator

from bizbus.schemas.payloads.common import Employee
from bizbus.schemas.values import NonEmptyStr, Payload

__all__ = ["BusinessTripRecordedV1", "TravelApprovedV1", "TravelRevokedV1", "TravelStatus"]


class TravelStatus(StrEnum):
    """Status of an OA travel approval instance (Feishu `approval_instance` statuses)."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELED = "canceled"
    REVERTED = "reverted"
    DELETED = "deleted"


class _TravelRequest(Payload):
    """Fields every travel-approval event carries."""

    instance_code: NonEmptyStr = Field(
        description="OA approval instance code; canonical key of the trip."
    )
    approval_code: NonEmptyStr = Field(description="OA approval definition code (the form).")
    applicant: Employee = Field(description="Employee who travels and filed the request.")
    departure_city: str | None = Field(
        default=None, description="City the trip starts from.", examples=["深圳"]
    )
    destination: NonEmptyStr = Field(description="Destination city.", examples=["上海"])
    departure_date: date = Field(description="First day of the trip (local date).")
    return_date: date = Field(description="Last day of the trip (local date), inclusive.")
    purpose: NonEmptyStr = Field(
        description="Why the trip is made.", examples=["参加2025中国国际工业博览会"]
    )
    approvers: tuple[Employee, ...] = Field(
        min_length=1, description="Approvers in approval order."
    )

    def entity_key(self) -> str:
        """Return the OA approval instance code."""
        return self.instance_code

    @model_validator(mode="after")
    def _return_not_before_departure(self) -> Self:
        if self.return_date < self.departure_date:
            raise ValueError("return_date is before departure_date")
        return self


class TravelApprovedV1(_TravelRequest):
    """A travel request was approved in the OA; the ERP gets an HR business-trip record."""

    EVENT_TYPE: ClassVar[str] = "bizbus.hr.travel.approved.v1"

    status: Literal[TravelStatus.APPROVED] = Field(
        default=TravelStatus.APPROVED, description="OA instance status; always approved."
    )
    approved_at: AwareDatetime = Field(description="When the last approver approved.")


class TravelRevokedV1(_TravelRequest):
    """An approved travel request was withdrawn; the ERP trip record must be cancelled."""

    EVENT_TYPE: ClassVar[str] = "bizbus.hr.travel.revoked.v1"

    status: Literal[TravelStatus.CANCELED, TravelStatus.REVERTED, TravelStatus.DELETED] = Field(
        description="OA instance status after the revocation."
    )
    revoked_at: AwareDatetime = Field(description="When the request was withdrawn.")
    reason: str | None = Field(default=None, description="Reason given, if any.")


class BusinessTripRecordedV1(Payload):
    """The ERP/HR business-trip record was created or changed (echo of our write, or manual)."""

    EVENT_TYPE: ClassVar[str] = "bizbus.hr.business-trip.recorded.v1"

    erp_trip_id: int = Field(ge=1, description="ERP record id of the business trip.")
    oa_instance_code: NonEmptyStr = Field(
        description="OA approval instance code the record came from; canonical key."
    )
    employee: Employee = Field(description="Employee on the trip.")
    destination: NonEmptyStr = Field(description="Destination city.")
    start_date: date = Field(description="First day of the trip.")
    end_date: date = Field(description="Last day of the trip, inclusive.")
    purpose: NonEmptyStr = Field(description="Purpose of the trip.")
    state: Literal["confirmed", "cancelled"] = Field(description="State of the ERP record.")
    recorded_at: AwareDatetime = Field(description="When the ERP wrote the record.")

    def entity_key(self) -> str:
        """Return the OA approval instance code."""
        return self.oa_instance_code
