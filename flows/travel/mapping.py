"""Pure mapping of the travel flow: OA instance → travel event → ERP business-trip command.

No I/O. `decide` says what an instance's current status means given what was already announced
(approve once, revoke only what was approved); `map_*` build the canonical events from a parsed
Feishu trip and directory entries; `leave_payload` is the Odoo `hr.leave` write of a command.
"""

from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import ValidationError

from bizbus.connectors.approvals import InstanceDetail, TripRequest
from bizbus.connectors.errors import MappingError
from bizbus.schemas import (
    BusinessTripRecordedV1,
    BusinessTripRequestedV1,
    Employee,
    TravelApprovedV1,
    TravelRevokedV1,
    TravelStatus,
)

__all__ = [
    "REVOKED_STATUSES",
    "Decision",
    "decide",
    "employee_from_user",
    "leave_payload",
    "map_travel_approved",
    "map_travel_revoked",
    "map_trip_recorded",
    "map_trip_request",
    "recorded_state",
]

# Feishu statuses that withdraw an approved request: 撤回 (CANCELED), 撤销 (REVERTED), 删除.
# REJECTED is not among them: Feishu only rejects a PENDING instance, which never reached the ERP.
REVOKED_STATUSES: Mapping[str, TravelStatus] = {
    "CANCELED": TravelStatus.CANCELED,
    "REVERTED": TravelStatus.REVERTED,
    "DELETED": TravelStatus.DELETED,
}
_ERP_CONFIRMED = frozenset({"confirm", "validate1", "validate"})
_ERP_CANCELLED = frozenset({"refuse", "cancel"})


class Decision(StrEnum):
    """What the travel flow announces for an instance (also the value kept per instance)."""

    APPROVED = "approved"
    REVOKED = "revoked"


def decide(status: str, announced: str | None) -> Decision | None:
    """Return what to announce for an instance now `status`, after `announced` (or None).

    An approval is announced once; a withdrawal only after an announced approval (an instance
    withdrawn before approval never reached the ERP); nothing moves back from revoked.
    """
    if announced == Decision.REVOKED:
        return None
    if status == "APPROVED" and announced != Decision.APPROVED:
        return Decision.APPROVED
    if status in REVOKED_STATUSES and announced == Decision.APPROVED:
        return Decision.REVOKED
    return None


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def employee_from_user(user: Mapping[str, Any], *, employee_no: str | None = None) -> Employee:
    """Map a Feishu contact user (`contact/v3/users/:user_id` `data.user`) to an Employee.

    `employee_no` stands in when the directory has no 工号 (e.g. it came from the form).

    Raises:
        MappingError: No employee number, or no name.
    """
    number = _text(user.get("employee_no")) or _text(employee_no)
    name = _text(user.get("name"))
    if number is None or name is None:
        who = _text(user.get("user_id")) or "?"
        raise MappingError(
            f"oa: user {who} has no employee number (工号) or name in the OA directory; "
            "fill it in the admin console (Feishu: grant the app "
            "contact:user.employee_id:readonly)"
        )
    email = _text(user.get("enterprise_email")) or _text(user.get("email"))
    try:
        return Employee(employee_no=number, name=name, email=email)
    except ValidationError:  # an unreadable e-mail must not block the trip; number suffices
        return Employee(employee_no=number, name=name)


def _request_fields(
    trip: TripRequest, detail: InstanceDetail, applicant: Employee, approvers: Sequence[Employee]
) -> dict[str, Any]:
    if not approvers:
        raise MappingError(f"oa: instance {trip.instance_code} has no approver to name")
    return {
        "instance_code": trip.instance_code,
        "approval_code": trip.approval_code or detail.approval_code,
        "applicant": applicant,
        "departure_city": trip.departure_city,
        "destination": "、".join(trip.destinations),
        "departure_date": trip.departure_date,
        "return_date": trip.return_date,
        # The trip must reach HR even when the form left the purpose empty.
        "purpose": trip.purpose or detail.approval_name or "出差",
        "approvers": tuple(approvers),
    }


def map_travel_approved(
    trip: TripRequest,
    detail: InstanceDetail,
    *,
    applicant: Employee,
    approvers: Sequence[Employee],
    observed_at: datetime,
) -> TravelApprovedV1:
    """Return the TravelApprovedV1 of an APPROVED instance (`observed_at`: when no end time)."""
    return TravelApprovedV1(
        **_request_fields(trip, detail, applicant, approvers),
        approved_at=trip.decided_at or observed_at,
    )


def map_travel_revoked(
    trip: TripRequest,
    detail: InstanceDetail,
    *,
    applicant: Employee,
    approvers: Sequence[Employee],
    revoked_at: datetime,
) -> TravelRevokedV1:
    """Return the TravelRevokedV1 of a withdrawn instance (status in REVOKED_STATUSES)."""
    return TravelRevokedV1(
        **_request_fields(trip, detail, applicant, approvers),
        status=REVOKED_STATUSES[detail.status],
        revoked_at=revoked_at,
        reason=_revocation_reason(detail),
    )


def _revocation_reason(detail: InstanceDetail) -> str | None:
    for entry in reversed(detail.timeline):
        if entry.get("type") in ("CANCEL", "REVERTED", "REVERT"):
            return _text(entry.get("comment"))
    return None


def map_trip_request(event: TravelApprovedV1 | TravelRevokedV1) -> BusinessTripRequestedV1:
    """Return the ERP command of a travel event: create for an approval, cancel otherwise."""
    return BusinessTripRequestedV1(
        action="create" if isinstance(event, TravelApprovedV1) else "cancel",
        oa_instance_code=event.instance_code, employee=event.applicant,
        destination=event.destination, purpose=event.purpose,
        start_date=event.departure_date, end_date=event.return_date,
    )  # fmt: skip


def leave_payload(command: BusinessTripRequestedV1, *, employee_id: int) -> dict[str, Any]:
    """Return the `hr.leave` values of a create command (approved in the OA: validated)."""
    return {
        "employee_id": employee_id,
        "date_from": command.start_date,
        "date_to": command.end_date,
        "x_destination": command.destination,
        "name": f"出差 {command.destination} - {command.purpose}",
        "state": "validate",
    }


def recorded_state(erp_state: str) -> Literal["confirmed", "cancelled"]:
    """Map an Odoo `hr.leave` state to the recorded trip state.

    Raises:
        MappingError: A state a synced trip never has (draft).
    """
    if erp_state in _ERP_CONFIRMED:
        return "confirmed"
    if erp_state in _ERP_CANCELLED:
        return "cancelled"
    raise MappingError(f"erp: business trip in unexpected state {erp_state!r}")


_TRIP_FIELDS = ("oa_instance_code", "employee", "destination", "start_date", "end_date", "purpose")


def map_trip_recorded(
    command: BusinessTripRequestedV1, *, leave_id: int, erp_state: str, recorded_at: datetime
) -> BusinessTripRecordedV1:
    """Return the BusinessTripRecordedV1 of an applied command (the trip as commanded)."""
    return BusinessTripRecordedV1(
        erp_trip_id=leave_id,
        state=recorded_state(erp_state),
        recorded_at=recorded_at,
        **{name: getattr(command, name) for name in _TRIP_FIELDS},
    )
