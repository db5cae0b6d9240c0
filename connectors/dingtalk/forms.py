"""DingTalk workflow dialect parsers: instance detail → the neutral ``InstanceDetail``, trips.

Pure functions, no I/O. ``GET /v1.0/workflow/processInstances`` answers a ``result`` without
its own id or process code (the caller adds both as ``processInstanceId``/``processCode``).
Times are ISO 8601 in UTC (``2024-05-20T01:00Z``). ``formComponentValues`` are
``{"id", "name", "componentType", "bizAlias", "value", "extValue"?}`` (``bizAlias`` is read as the
field's custom id); a ``TableField`` (明细) value is a
JSON list of rows ``{"rowValue": [{"label", "key", "value"}]}``. A trip form holds a 行程 table
with 出发城市/目的城市/开始时间/结束时间/交通工具 columns (times ``YYYY-MM-DD HH:mm``, China time).

Statuses become the neutral ones flows read: RUNNING/NEW → PENDING, COMPLETED → APPROVED or
REJECTED by ``result``, TERMINATED/CANCELED → CANCELED (REVERTED when it had been approved).
"""

from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any

import orjson

from bizbus.connectors.approvals import CHINA, InstanceDetail, TripLeg, TripRequest, widget_text
from bizbus.connectors.errors import SchemaError
from bizbus.connectors.fields import text

__all__ = ["neutral_status", "parse_detail", "parse_time", "parse_trip", "raw_detail"]

_PURPOSE_NAMES = ("出差事由", "事由", "出差原因", "purpose", "reason")
_EMPLOYEE_NO_NAMES = ("工号", "员工编号", "employee no", "employee_no")
_TRIP_TABLE_NAMES = ("行程", "行程明细", "出差行程", "trip", "itinerary")
_COLUMNS = {
    "departure": ("出发城市", "departure"),
    "destination": ("目的城市", "destination"),
    "start": ("开始时间", "start"),
    "end": ("结束时间", "end"),
    "transportation": ("交通工具", "transportation"),
    "one_round": ("单程往返", "oneRound"),
    "remark": ("备注", "remark"),
}
_TASK_STATUS = {"AGREE": "APPROVED", "REFUSE": "REJECTED"}


def _fail(what: str) -> SchemaError:
    return SchemaError(f"dingtalk: {what}")


def parse_time(value: Any, *, tz: tzinfo = UTC) -> datetime | None:
    """Read a DingTalk time: ISO 8601 (``Z`` or an offset), ms epoch, or ``YYYY-MM-DD HH:mm``.

    Times without an offset are in ``tz``; None for empty or unreadable values.
    """
    if isinstance(value, bool) or value in (None, "", 0, "0"):
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, UTC)
    if not isinstance(value, str):
        return None
    stamp = value.strip()
    if stamp.isdigit():
        return datetime.fromtimestamp(int(stamp) / 1000, UTC)
    try:
        parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=tz)


def neutral_status(status: str, result: str) -> str:
    """The neutral status of a DingTalk (status, result) pair."""
    if status == "COMPLETED":
        return "APPROVED" if result == "agree" else "REJECTED"
    if status in ("TERMINATED", "CANCELED"):
        return "REVERTED" if result == "agree" else "CANCELED"
    if status in ("RUNNING", "NEW"):
        return "PENDING"
    return status or "PENDING"


def raw_detail(instance_id: str, process_code: str, result: Mapping[str, Any]) -> dict[str, Any]:
    """The ``result`` with its id and process code, as records carry it (``parse_detail`` input)."""
    return {**result, "processInstanceId": instance_id, "processCode": process_code}


def _widgets(values: Any) -> tuple[Mapping[str, Any], ...]:
    if not isinstance(values, list):
        return ()
    return tuple(
        {
            "id": item.get("id"),
            "custom_id": item.get("bizAlias") or None,  # DingTalk's business alias of a field
            "name": item.get("name"),
            "type": item.get("componentType"),
            "value": item.get("value"),
            "ext_value": item.get("extValue"),
        }
        for item in values
        if isinstance(item, Mapping)
    )


def _tasks(values: Any) -> tuple[Mapping[str, Any], ...]:
    if not isinstance(values, list):
        return ()
    return tuple(
        {**task, "user_id": task.get("userId"),
         "status": _TASK_STATUS.get(str(task.get("result")), str(task.get("status") or ""))}
        for task in values if isinstance(task, Mapping)
    )  # fmt: skip


def _timeline(values: Any) -> tuple[Mapping[str, Any], ...]:
    if not isinstance(values, list):
        return ()
    entries = []
    for record in values:
        if not isinstance(record, Mapping):
            continue
        kind = str(record.get("type") or "")
        if kind == "TERMINATE_PROCESS_INSTANCE":
            kind = "REVERT" if record.get("result") == "AGREE" else "CANCEL"
        entries.append({**record, "type": kind, "user_id": record.get("userId"),
                        "comment": record.get("remark")})  # fmt: skip
    return tuple(entries)


def parse_detail(data: Mapping[str, Any]) -> InstanceDetail:
    """Parse a ``raw_detail`` (a ``result`` plus its id and process code).

    Raises:
        SchemaError: No id, status or create time.
    """
    instance_id = text(data.get("processInstanceId"))
    status = text(data.get("status"))
    if instance_id is None or status is None:
        raise _fail("instance detail has no processInstanceId or status")
    created = parse_time(data.get("createTime"))
    if created is None:
        raise _fail("instance detail has no createTime")
    result = text(data.get("result")) or ""
    dept = data.get("originatorDeptId")
    return InstanceDetail(
        instance_code=instance_id,
        approval_code=text(data.get("processCode")) or "",
        approval_name=text(data.get("title")) or "",
        status=neutral_status(status, result),
        uuid=None,
        user_id=text(data.get("originatorUserId")),
        open_id=None,
        department_id=str(dept) if isinstance(dept, str | int) and dept != "" else None,
        serial_number=text(data.get("businessId")),
        start_time=created,
        end_time=parse_time(data.get("finishTime")),
        widgets=_widgets(data.get("formComponentValues")),
        tasks=_tasks(data.get("tasks")),
        timeline=_timeline(data.get("operationRecords")),
        raw=data,
    )


def _cell(row: Mapping[str, str], key: str) -> str | None:
    for label in _COLUMNS[key]:
        if row.get(label.casefold()):
            return row[label.casefold()]
    return None


def _rows(value: Any) -> list[dict[str, str]]:
    try:
        rows = orjson.loads(value) if isinstance(value, str | bytes) else value
    except orjson.JSONDecodeError:
        raise _fail("trip table value is not JSON") from None
    if not isinstance(rows, list):
        raise _fail("trip table value is not a list of rows")
    found = []
    for row in rows:
        cells = row.get("rowValue") if isinstance(row, Mapping) else None
        if not isinstance(cells, list):
            raise _fail("trip table row has no rowValue")
        found.append({
            str(cell.get("label", "")).casefold(): t
            for cell in cells
            if isinstance(cell, Mapping) and (t := widget_text(cell.get("value"))) is not None
        })  # fmt: skip
    return found


def _leg(row: Mapping[str, str], n: int, tz: tzinfo) -> TripLeg:
    where = f"trip row {n}"
    start = parse_time(_cell(row, "start"), tz=tz)
    end = parse_time(_cell(row, "end"), tz=tz)
    destination = _cell(row, "destination")
    if start is None or end is None:
        raise _fail(f"{where} has no start or end time")
    if destination is None:
        raise _fail(f"{where} has no destination")
    if end < start:
        raise _fail(f"{where} ends before it starts")
    return TripLeg(
        start=start, end=end, departure=_cell(row, "departure"), destination=destination,
        transportation=_cell(row, "transportation"), one_round=_cell(row, "one_round"),
        remark=_cell(row, "remark"),
    )  # fmt: skip


def parse_trip(detail: InstanceDetail, *, tz: tzinfo = CHINA) -> TripRequest:
    """Read the trip of a DingTalk instance: its 行程 table, purpose and employee number.

    Raises:
        SchemaError: The form has no trip table, or a row lacks times or a destination.
    """
    table = detail.widget(*_TRIP_TABLE_NAMES, kind="TableField")
    if table is None:
        raise _fail("instance form has no trip table (行程)")
    legs = tuple(_leg(row, n, tz) for n, row in enumerate(_rows(table.get("value"))))
    if not legs:
        raise _fail("trip table has no row")
    purpose_box = detail.widget(*_PURPOSE_NAMES)
    number_box = detail.widget(*_EMPLOYEE_NO_NAMES)
    tasks = [t for t in detail.tasks if isinstance(t.get("user_id"), str) and t.get("user_id")]
    return TripRequest(
        instance_code=detail.instance_code,
        approval_code=detail.approval_code,
        status=detail.status,
        applicant_user_id=detail.user_id,
        applicant_open_id=None,
        employee_no=widget_text(number_box.get("value")) if number_box is not None else None,
        legs=legs,
        purpose=widget_text(purpose_box.get("value")) if purpose_box is not None else None,
        approvers=tuple(dict.fromkeys(str(t["user_id"]) for t in tasks)),
        approved_by=tuple(
            dict.fromkeys(str(t["user_id"]) for t in tasks if t.get("status") == "APPROVED")
        ),
        applied_at=detail.start_time,
        decided_at=detail.end_time,
    )
