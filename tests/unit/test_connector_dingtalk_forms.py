"""DingTalk workflow detail → the neutral InstanceDetail and TripRequest (pure parsers)."""

from datetime import UTC, date, datetime
from typing import Any

import orjson
import pytest

from bizbus.connectors.dingtalk.forms import (
    neutral_status,
    parse_detail,
    parse_time,
    parse_trip,
    raw_detail,
)
from bizbus.connectors.errors import SchemaError


def table(*rows: dict[str, str]) -> str:
    return orjson.dumps(
        [{"rowValue": [{"label": k, "key": f"f{n}", "value": v}
                       for n, (k, v) in enumerate(row.items())]} for row in rows]
    ).decode()  # fmt: skip


LEG = {"出发城市": "苏州", "目的城市": "上海", "开始时间": "2026-12-07 09:00",
       "结束时间": "2026-12-09 18:00", "交通工具": "高铁"}  # fmt: skip


def result(status: str = "COMPLETED", outcome: str = "agree", **extra: Any) -> dict[str, Any]:
    return {
        "title": "李娜提交的出差申请", "status": status, "result": outcome,
        "createTime": "2026-12-01T01:00Z", "finishTime": "2026-12-01T02:30Z",
        "originatorUserId": "u-lina", "originatorDeptId": "481000002", "businessId": "202612010001",
        "formComponentValues": [
            {"id": "TextareaField-1", "name": "出差事由", "componentType": "TextareaField",
             "value": "参加展会"},
            {"id": "TableField-1", "name": "行程", "componentType": "TableField",
             "value": table(LEG, {**LEG, "出发城市": "上海", "目的城市": "杭州",
                                  "开始时间": "2026-12-09 19:00", "结束时间": "2026-12-10 12:00"})},
        ],
        "tasks": [{"taskId": 1, "userId": "u-zhang", "status": "COMPLETED", "result": "AGREE"},
                  {"taskId": 2, "userId": "u-wang", "status": "CANCELED", "result": "NONE"}],
        "operationRecords": [{"userId": "u-lina", "type": "START_PROCESS_INSTANCE",
                              "result": "NONE", "date": "2026-12-01T01:00Z"}],
        **extra,
    }  # fmt: skip


def test_a_completed_agreed_instance_is_approved_with_its_ids_and_times() -> None:
    detail = parse_detail(raw_detail("inst-1", "PROC-TRIP", result()))
    assert (detail.instance_code, detail.approval_code, detail.status) == (
        "inst-1", "PROC-TRIP", "APPROVED",
    )  # fmt: skip
    assert detail.start_time == datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    assert detail.end_time == datetime(2026, 12, 1, 2, 30, tzinfo=UTC)
    assert (detail.user_id, detail.department_id, detail.serial_number) == (
        "u-lina", "481000002", "202612010001",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("status", "outcome", "neutral"),
    [("RUNNING", "", "PENDING"), ("NEW", "", "PENDING"), ("COMPLETED", "agree", "APPROVED"),
     ("COMPLETED", "refuse", "REJECTED"), ("TERMINATED", "", "CANCELED"),
     ("TERMINATED", "agree", "REVERTED"), ("CANCELED", "", "CANCELED")],
)  # fmt: skip
def test_statuses_become_the_neutral_ones(status: str, outcome: str, neutral: str) -> None:
    assert neutral_status(status, outcome) == neutral


def test_a_business_alias_is_the_fields_custom_id() -> None:
    values = [{"id": "TextField-9", "name": "订单", "componentType": "TextField",
               "bizAlias": "crm_order_id", "value": "801xx"}]  # fmt: skip
    detail = parse_detail(raw_detail("i", "P", result(formComponentValues=values)))
    assert detail.widgets[0]["custom_id"] == "crm_order_id"
    assert detail.widget("crm_order_id") is detail.widgets[0]


def test_a_trip_reads_every_row_purpose_and_deciders() -> None:
    trip = parse_trip(parse_detail(raw_detail("inst-1", "PROC-TRIP", result())))
    assert trip.destinations == ("上海", "杭州") and trip.departure_city == "苏州"
    assert (trip.departure_date, trip.return_date) == (date(2026, 12, 7), date(2026, 12, 10))
    assert trip.legs[0].start.utcoffset() is not None and trip.legs[0].start.hour == 9
    assert trip.purpose == "参加展会" and trip.legs[0].transportation == "高铁"
    assert trip.approvers == ("u-zhang", "u-wang") and trip.approved_by == ("u-zhang",)
    assert trip.applicant_user_id == "u-lina" and trip.employee_no is None


def test_a_revocation_remark_reads_as_the_timeline_comment() -> None:
    records = [{"userId": "u-lina", "type": "TERMINATE_PROCESS_INSTANCE", "result": "AGREE",
                "remark": "展会延期"}]  # fmt: skip
    detail = parse_detail(raw_detail("i", "P", result("TERMINATED", operationRecords=records)))
    assert detail.status == "REVERTED"
    assert detail.timeline[-1]["type"] == "REVERT" and detail.timeline[-1]["comment"] == "展会延期"


@pytest.mark.parametrize(
    ("values", "match"),
    [([], "no trip table"),
     ([{"name": "行程", "componentType": "TableField", "value": "[]"}], "no row"),
     ([{"name": "行程", "componentType": "TableField", "value": table({**LEG, "目的城市": ""})}],
      "no destination"),
     ([{"name": "行程", "componentType": "TableField",
        "value": table({**LEG, "结束时间": "2026-12-01 09:00"})}], "ends before"),
     ([{"name": "行程", "componentType": "TableField", "value": "{oops"}], "not JSON")],
)  # fmt: skip
def test_unreadable_trips_are_schema_errors(values: list[dict[str, Any]], match: str) -> None:
    detail = parse_detail(raw_detail("i", "P", result(formComponentValues=values)))
    with pytest.raises(SchemaError, match=match):
        parse_trip(detail)


def test_a_detail_without_status_or_create_time_is_a_schema_error() -> None:
    with pytest.raises(SchemaError):
        parse_detail(raw_detail("i", "P", result(status="")))
    with pytest.raises(SchemaError):
        parse_detail(raw_detail("i", "P", result(createTime=None)))


def test_times_read_iso_epoch_ms_and_local_minutes() -> None:
    assert parse_time("2026-12-01T01:00Z") == datetime(2026, 12, 1, 1, tzinfo=UTC)
    assert parse_time(1_800_000_000_000) == datetime.fromtimestamp(1_800_000_000, UTC)
    assert parse_time("1800000000000") == datetime.fromtimestamp(1_800_000_000, UTC)
    assert parse_time("") is None and parse_time("soon") is None
