"""Feishu dialect parsers: instance detail (recorded from the sandbox), form JSON, trip groups."""

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest

from bizbus.connectors.errors import SchemaError
from bizbus.connectors.feishu import parse_detail, parse_trip, parse_trip_event
from bizbus.connectors.feishu.forms import parse_ms

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "feishu"


def recorded_detail() -> dict[str, Any]:
    body = orjson.loads((FIXTURES / "instance_detail_approved.json").read_bytes())
    data: dict[str, Any] = body["data"]
    return data


def with_form(widgets: list[dict[str, Any]], **changes: Any) -> dict[str, Any]:
    return {**recorded_detail(), "form": orjson.dumps(widgets).decode(), **changes}


def test_the_detail_is_parsed_with_its_form_and_times() -> None:
    detail = parse_detail(recorded_detail())
    assert detail.status == "APPROVED"
    assert detail.approval_name == "出差申请"
    assert detail.user_id == "f8ca557e" and detail.open_id.startswith("ou_")  # type: ignore[union-attr]
    assert [w["type"] for w in detail.widgets] == ["tripGroup", "textarea"]
    assert detail.start_time.tzinfo is UTC
    assert detail.end_time is not None and detail.end_time >= detail.start_time
    assert detail.position.modified == detail.end_time
    assert detail.position.id == detail.instance_code


def test_an_open_instance_is_positioned_at_its_start_time() -> None:
    detail = parse_detail({**recorded_detail(), "status": "PENDING", "end_time": "0"})
    assert detail.end_time is None
    assert detail.updated_at == detail.start_time


def test_the_trip_is_read_with_chinese_text_intact() -> None:
    trip = parse_trip(parse_detail(recorded_detail()))
    assert trip.applicant_user_id == "f8ca557e"
    assert trip.destinations == ("上海", "杭州")
    assert trip.departure_city == "苏州"
    assert trip.departure_date == date(2024, 9, 24)
    assert trip.return_date == date(2024, 9, 27)
    assert trip.purpose == "展会接待客户\uff0c收集名片"  # a full-width comma, kept
    assert [leg.transportation for leg in trip.legs] == ["高铁", "汽车"]
    assert trip.legs[1].remark == "拜访客户" and trip.legs[1].one_round == "往返"
    assert trip.approvers == ("5d9bd9a1",) and trip.approved_by == ("5d9bd9a1",)
    assert trip.employee_no is None
    assert trip.decided_at is not None


def test_local_dates_follow_the_schedules_offset_not_utc() -> None:
    # 00:30 in Shanghai is the previous day in UTC: the trip still starts on the 24th.
    widgets = [
        {"id": "w", "type": "tripGroup", "value": {"schedule": [
            {"start": "2024-09-24T00:30:00+08:00", "end": "2024-09-24T23:30:00+08:00",
             "departure": "深圳", "destination": "广州", "transportation": "高铁"}]}},
    ]  # fmt: skip
    trip = parse_trip(parse_detail(with_form(widgets)))
    assert trip.departure_date == trip.return_date == date(2024, 9, 24)


def test_times_without_offset_use_china_time_and_reason_stands_in_for_purpose() -> None:
    widgets: list[dict[str, Any]] = [
        {"id": "w", "type": "tripGroup", "value": {"reason": "客户验收", "schedule": [
            {"start": "2024-10-08 09:00:00", "end": "2024-10-09 18:00:00",
             "departure": {"name": "苏州"}, "destination": ["无锡", "常州"]}]}},
        {"id": "no", "name": "工号", "type": "input", "value": "E1001"},
    ]  # fmt: skip
    trip = parse_trip(parse_detail(with_form(widgets)))
    assert trip.legs[0].start.utcoffset() == timedelta(hours=8)
    assert trip.legs[0].departure == "苏州" and trip.legs[0].destination == "无锡、常州"
    assert trip.purpose == "客户验收"
    assert trip.employee_no == "E1001"


def test_an_explicit_purpose_widget_and_time_zone_are_honoured() -> None:
    widgets: list[dict[str, Any]] = [
        {"id": "w", "type": "tripGroup", "value": {"schedule": [
            {"start": "2024-10-08 09:00:00", "end": "2024-10-08 18:00:00",
             "departure": "Berlin", "destination": "München"}]}},
        {"id": "why", "type": "textarea", "value": "Hannover Messe"},
    ]  # fmt: skip
    berlin = timezone(timedelta(hours=2))
    trip = parse_trip(parse_detail(with_form(widgets)), tz=berlin, purpose_widget="why")
    assert trip.purpose == "Hannover Messe"
    assert trip.legs[0].start == datetime(2024, 10, 8, 9, tzinfo=berlin)


def test_a_form_without_a_trip_group_is_a_schema_error() -> None:
    widgets = [{"id": "widget_purpose", "type": "textarea", "value": "请假"}]
    with pytest.raises(SchemaError, match="no trip group"):
        parse_trip(parse_detail(with_form(widgets)))


def test_a_schedule_that_ends_before_it_starts_is_a_schema_error() -> None:
    widgets = [
        {"id": "w", "type": "tripGroup", "value": {"schedule": [
            {"start": "2024-10-09T09:00:00+08:00", "end": "2024-10-08T09:00:00+08:00",
             "destination": "上海"}]}},
    ]  # fmt: skip
    with pytest.raises(SchemaError, match="ends before it starts"):
        parse_trip(parse_detail(with_form(widgets)))


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"form": "[{not json"}, "not JSON"),
        ({"form": '{"a": 1}'}, "not a list"),
        ({"status": ""}, "no instance_code or status"),
        ({"start_time": "0"}, "no start_time"),
    ],
)
def test_an_unreadable_detail_is_a_schema_error(changes: dict[str, Any], match: str) -> None:
    with pytest.raises(SchemaError, match=match):
        parse_detail({**recorded_detail(), **changes})


def test_feishu_epoch_times() -> None:
    assert parse_ms("0") is None and parse_ms(None) is None and parse_ms("") is None
    assert parse_ms(1727143200123) == datetime(2024, 9, 24, 2, 0, 0, 123000, tzinfo=UTC)
    assert parse_ms("1727143200123") == parse_ms(1727143200123)
    assert parse_ms("soon") is None


def test_a_trip_event_without_instance_code_is_a_schema_error() -> None:
    with pytest.raises(SchemaError):
        parse_trip_event({"schedules": []})
