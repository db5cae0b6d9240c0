"""Feishu approval v4 dialect parsers: instance detail, its ``form`` JSON and trip groups.

Pure functions, no I/O. ``form`` is a JSON string: a list of widgets ``{"id", "custom_id",
"name", "type", "value"}``; a ``tripGroup`` value is ``{"schedule": [{"start", "end",
"departure", "destination", "transportation", "oneRound"?, "remark"?}], "reason"?}``.
Times are ms-epoch strings (``"0"`` while open) in the detail and RFC 3339 in trip schedules.
"""

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any

import orjson

from bizbus.connectors.approvals import CHINA, InstanceDetail, TripLeg, TripRequest, widget_text
from bizbus.connectors.errors import SchemaError
from bizbus.connectors.fields import text

__all__ = [
    "CHINA",
    "InstanceDetail",
    "TripLeg",
    "TripRequest",
    "parse_detail",
    "parse_ms",
    "parse_trip",
    "parse_trip_event",
    "widget_text",
]

_PURPOSE_NAMES = ("出差事由", "事由", "出差原因", "purpose", "reason")
_EMPLOYEE_NO_NAMES = ("工号", "员工编号", "employee no", "employee number", "employee_no")


def _fail(what: str) -> SchemaError:
    return SchemaError(f"feishu: {what}")


def parse_ms(value: Any) -> datetime | None:
    """Read a Feishu epoch time (ms as int or digit string); None for ``0``/empty/absent."""
    if isinstance(value, bool) or value in (None, "", "0", 0):
        return None
    try:
        millis = int(value)
    except (TypeError, ValueError):
        return None
    return datetime.fromtimestamp(millis / 1000, UTC) if millis > 0 else None


def _parse_time(value: Any, *, tz: tzinfo, where: str) -> datetime:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000 if value > 10**11 else value, tz)
    if not isinstance(value, str) or not value.strip():
        raise _fail(f"{where} has no time")
    text = value.strip()
    if text.isdigit():
        return _parse_time(int(text), tz=tz, where=where)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _fail(f"{where} is not a time") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=tz)


def _records(value: Any) -> tuple[Mapping[str, Any], ...]:
    return tuple(v for v in value if isinstance(v, Mapping)) if isinstance(value, list) else ()


def parse_detail(data: Mapping[str, Any]) -> InstanceDetail:
    """Parse an instance detail, including its ``form`` JSON string.

    Raises:
        SchemaError: No instance code, status or start time, or a form that is not a JSON list.
    """
    code, status = data.get("instance_code"), data.get("status")
    if not isinstance(code, str) or not code or not isinstance(status, str) or not status:
        raise _fail("instance detail has no instance_code or status")
    started = parse_ms(data.get("start_time"))
    if started is None:
        raise _fail("instance detail has no start_time")
    form = data.get("form") or "[]"
    try:
        widgets = orjson.loads(form) if isinstance(form, str | bytes) else form
    except orjson.JSONDecodeError:
        raise _fail("instance form is not JSON") from None
    if not isinstance(widgets, list):
        raise _fail("instance form is not a list of widgets")

    return InstanceDetail(
        instance_code=code,
        approval_code=text(data.get("approval_code")) or "",
        approval_name=text(data.get("approval_name")) or "",
        status=status,
        uuid=text(data.get("uuid")),
        user_id=text(data.get("user_id")),
        open_id=text(data.get("open_id")),
        department_id=text(data.get("department_id")),
        serial_number=text(data.get("serial_number")),
        start_time=started,
        end_time=parse_ms(data.get("end_time")),
        widgets=_records(widgets),
        tasks=_records(data.get("task_list")),
        timeline=_records(data.get("timeline")),
        raw=data,
    )


def _legs(schedules: Sequence[Any], *, keys: Mapping[str, str], tz: tzinfo) -> tuple[TripLeg, ...]:
    legs = []
    for n, item in enumerate(schedules):
        if not isinstance(item, Mapping):
            raise _fail(f"trip schedule {n} is not an object")
        where = f"trip schedule {n}"
        start = _parse_time(item.get(keys["start"]), tz=tz, where=f"{where} start")
        end = _parse_time(item.get(keys["end"]), tz=tz, where=f"{where} end")
        destination = widget_text(item.get("destination"))
        if destination is None:
            raise _fail(f"{where} has no destination")
        if end < start:
            raise _fail(f"{where} ends before it starts")
        legs.append(
            TripLeg(
                start=start,
                end=end,
                departure=widget_text(item.get("departure")),
                destination=destination,
                transportation=widget_text(item.get("transportation")),
                one_round=widget_text(item.get(keys["round"])),
                remark=widget_text(item.get("remark")),
            )
        )
    if not legs:
        raise _fail("trip group has no schedule")
    return tuple(legs)


_FORM_KEYS = {"start": "start", "end": "end", "round": "oneRound"}
_EVENT_KEYS = {"start": "trip_start_time", "end": "trip_end_time", "round": "trip_type"}


def parse_trip(
    detail: InstanceDetail,
    *,
    tz: tzinfo = CHINA,
    purpose_widget: str | None = None,
    employee_no_widget: str | None = None,
) -> TripRequest:
    """Read the trip group of an instance (the first ``tripGroup`` widget).

    Args:
        detail: The parsed instance detail.
        tz: Zone of schedule times written without an offset.
        purpose_widget: id, custom_id or name of the purpose widget (default: 出差事由,
            事由, purpose, ...); the trip group's ``reason`` when there is none.
        employee_no_widget: id, custom_id or name of an employee-number widget (default:
            工号, employee_no, ...).

    Raises:
        SchemaError: The form has no trip group, or a schedule lacks times or a destination.
    """
    group = next((w for w in detail.widgets if w.get("type") == "tripGroup"), None)
    value = group.get("value") if group is not None else None
    if not isinstance(value, Mapping) or not isinstance(value.get("schedule"), list):
        raise _fail("instance form has no trip group")
    legs = _legs(value["schedule"], keys=_FORM_KEYS, tz=tz)
    names = (purpose_widget,) if purpose_widget else _PURPOSE_NAMES
    purpose_box = detail.widget(*names)
    purpose = widget_text(purpose_box.get("value")) if purpose_box is not None else None
    numbers = (employee_no_widget,) if employee_no_widget else _EMPLOYEE_NO_NAMES
    number_box = detail.widget(*numbers)
    tasks = [t for t in detail.tasks if isinstance(t.get("user_id"), str) and t.get("user_id")]
    return TripRequest(
        instance_code=detail.instance_code,
        approval_code=detail.approval_code,
        status=detail.status,
        applicant_user_id=detail.user_id,
        applicant_open_id=detail.open_id,
        employee_no=widget_text(number_box.get("value")) if number_box is not None else None,
        legs=legs,
        purpose=purpose or widget_text(value.get("reason")),
        approvers=tuple(dict.fromkeys(str(t["user_id"]) for t in tasks)),
        approved_by=tuple(
            dict.fromkeys(str(t["user_id"]) for t in tasks if t.get("status") == "APPROVED")
        ),
        applied_at=detail.start_time,
        decided_at=detail.end_time,
    )


def parse_trip_event(event: Mapping[str, Any], *, tz: tzinfo = CHINA) -> TripRequest:
    """Read an ``approval.instance.trip_group_update_v4`` event body (its ``event`` object).

    The event carries no approvers or employee number: fetch the detail when they are needed.

    Raises:
        SchemaError: No instance code, or a schedule lacks times or a destination.
    """
    code = event.get("instance_code")
    if not isinstance(code, str) or not code:
        raise _fail("trip event has no instance_code")
    schedules = event.get("schedules")
    legs = _legs(schedules if isinstance(schedules, list) else [], keys=_EVENT_KEYS, tz=tz)
    user = event.get("start_user")
    ids = user.get("id") if isinstance(user, Mapping) else None
    ids = ids if isinstance(ids, Mapping) else {}
    approval = event.get("approval_code")
    return TripRequest(
        instance_code=code,
        approval_code=approval if isinstance(approval, str) else "",
        status="APPROVED",
        applicant_user_id=text(ids.get("user_id")),
        applicant_open_id=text(ids.get("open_id")),
        employee_no=None,
        legs=legs,
        purpose=text(event.get("trip_reason")),
    )
