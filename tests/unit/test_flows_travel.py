"""Travel flow mapping: what an instance status announces, the events, the ERP leave values."""

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from bizbus.connectors.errors import MappingError
from bizbus.connectors.feishu import parse_detail, parse_trip
from bizbus.flows.travel.mapping import (
    Decision,
    decide,
    employee_from_user,
    leave_payload,
    map_travel_approved,
    map_travel_revoked,
    map_trip_recorded,
    map_trip_request,
    recorded_state,
)
from bizbus.schemas import Employee, TravelApprovedV1, TravelRevokedV1, TravelStatus, make_event

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "feishu"
PURPOSE = "展会接待客户\uff0c收集名片"  # the form's full-width comma, spelled out for ruff
NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
APPLICANT = Employee(employee_no="E1001", name="张伟", email="zhang.wei@hengli-demo.cn")
LEADER = Employee(employee_no="E1000", name="王建国")


def recorded_detail(**changes: Any) -> dict[str, Any]:
    body = orjson.loads((FIXTURES / "instance_detail_approved.json").read_bytes())
    data: dict[str, Any] = {**body["data"], **changes}
    return data


def approved() -> TravelApprovedV1:
    detail = parse_detail(recorded_detail())
    return map_travel_approved(
        parse_trip(detail), detail, applicant=APPLICANT, approvers=[LEADER], observed_at=NOW
    )


@pytest.mark.parametrize(
    ("status", "announced", "expected"),
    [
        ("PENDING", None, None),
        ("APPROVED", None, Decision.APPROVED),
        ("APPROVED", "approved", None),
        ("REJECTED", None, None),
        ("CANCELED", None, None),
        ("REVERTED", None, None),
        ("REVERTED", "approved", Decision.REVOKED),
        ("CANCELED", "approved", Decision.REVOKED),
        ("DELETED", "approved", Decision.REVOKED),
        ("REVERTED", "revoked", None),
        ("APPROVED", "revoked", None),
    ],
)
def test_an_approval_is_announced_once_and_only_an_announced_one_is_revoked(
    status: str, announced: str | None, expected: Decision | None
) -> None:
    assert decide(status, announced) == expected


def test_the_approval_carries_the_trip_with_chinese_text_and_local_dates() -> None:
    event = approved()
    assert event.instance_code == "32B6361F-2DDB-4906-B9FA-65FEB89F31CA"
    assert event.approval_code == "7C468A54-8745-2245-9675-08B7C63E7A85"
    assert event.applicant == APPLICANT
    assert event.departure_city == "苏州"
    assert event.destination == "上海、杭州"
    assert (event.departure_date, event.return_date) == (date(2024, 9, 24), date(2024, 9, 27))
    assert event.purpose == PURPOSE
    assert event.approvers == (LEADER,)
    assert event.approved_at == datetime.fromtimestamp(1795760655.806, UTC)


def test_the_approval_time_falls_back_to_when_it_was_seen_while_open() -> None:
    detail = parse_detail(recorded_detail(end_time="0"))
    event = map_travel_approved(
        parse_trip(detail), detail, applicant=APPLICANT, approvers=[LEADER], observed_at=NOW
    )
    assert event.approved_at == NOW


def test_an_empty_purpose_falls_back_to_the_form_name() -> None:
    form = orjson.loads(recorded_detail()["form"])
    form[0]["value"].pop("reason")
    form = [w for w in form if w["id"] != "widget_purpose"]
    detail = parse_detail(recorded_detail(form=orjson.dumps(form).decode()))
    event = map_travel_approved(
        parse_trip(detail), detail, applicant=APPLICANT, approvers=[LEADER], observed_at=NOW
    )
    assert event.purpose == "出差申请"


def test_a_trip_without_approvers_is_a_mapping_error() -> None:
    detail = parse_detail(recorded_detail())
    with pytest.raises(MappingError, match="no approver"):
        map_travel_approved(
            parse_trip(detail), detail, applicant=APPLICANT, approvers=[], observed_at=NOW
        )


def test_a_reverted_instance_maps_to_a_revocation_with_its_comment() -> None:
    timeline = [{"type": "START", "create_time": "1"}, {"type": "CANCEL", "comment": "行程取消"}]
    detail = parse_detail(recorded_detail(status="REVERTED", timeline=timeline))
    event = map_travel_revoked(
        parse_trip(detail), detail, applicant=APPLICANT, approvers=[LEADER], revoked_at=NOW
    )
    assert isinstance(event, TravelRevokedV1)
    assert event.status is TravelStatus.REVERTED
    assert (event.revoked_at, event.reason) == (NOW, "行程取消")
    assert event.destination == "上海、杭州"


def test_a_contact_user_maps_to_an_employee_preferring_the_enterprise_mail() -> None:
    user = {
        "user_id": "f8ca557e", "name": "张伟", "employee_no": "E1001",
        "email": "zw@example.com", "enterprise_email": "zhang.wei@hengli-demo.cn",
    }  # fmt: skip
    assert employee_from_user(user) == APPLICANT


def test_the_forms_employee_number_stands_in_for_a_missing_directory_one() -> None:
    user = {"user_id": "f8ca557e", "name": "张伟", "email": "zhang.wei@hengli-demo.cn"}
    assert employee_from_user(user, employee_no="E1001") == APPLICANT


def test_an_unreadable_email_does_not_block_the_employee() -> None:
    user = {"name": "张伟", "employee_no": "E1001", "email": "not-a-mail"}
    assert employee_from_user(user) == Employee(employee_no="E1001", name="张伟")


def test_a_user_without_employee_number_is_a_mapping_error_without_personal_data() -> None:
    with pytest.raises(MappingError, match="f8ca557e has no employee number") as caught:
        employee_from_user({"user_id": "f8ca557e", "name": "张伟", "email": "zw@x.cn"})
    assert "zw@x.cn" not in str(caught.value)


def test_an_approval_requests_a_create_and_a_revocation_a_cancel() -> None:
    event = approved()
    create = map_trip_request(event)
    assert (create.action, create.oa_instance_code) == ("create", event.instance_code)
    assert (create.start_date, create.end_date) == (event.departure_date, event.return_date)
    assert (create.destination, create.purpose, create.employee) == (
        "上海、杭州", event.purpose, APPLICANT,
    )  # fmt: skip
    revoked = TravelRevokedV1(
        **event.model_dump(exclude={"status", "approved_at"}),
        status=TravelStatus.REVERTED,
        revoked_at=NOW,
    )
    assert map_trip_request(revoked).action == "cancel"


def test_the_leave_is_validated_with_dates_and_destination() -> None:
    command = map_trip_request(approved())
    assert leave_payload(command, employee_id=7) == {
        "employee_id": 7,
        "date_from": date(2024, 9, 24),
        "date_to": date(2024, 9, 27),
        "x_destination": "上海、杭州",
        "name": f"出差 上海、杭州 - {PURPOSE}",
        "state": "validate",
    }


@pytest.mark.parametrize(
    ("erp_state", "expected"),
    [("validate", "confirmed"), ("confirm", "confirmed"), ("refuse", "cancelled")],
)
def test_erp_leave_states_map_to_the_recorded_state(erp_state: str, expected: str) -> None:
    assert recorded_state(erp_state) == expected


def test_a_draft_leave_is_not_a_recorded_state() -> None:
    with pytest.raises(MappingError):
        recorded_state("draft")


def test_the_recorded_trip_round_trips_through_the_envelope() -> None:
    command = map_trip_request(approved())
    recorded = map_trip_recorded(command, leave_id=12, erp_state="validate", recorded_at=NOW)
    assert (recorded.erp_trip_id, recorded.state, recorded.entity_key()) == (
        12, "confirmed", command.oa_instance_code,
    )  # fmt: skip
    event = make_event(recorded, source="bizbus://test", correlationid="c", origin="erp")
    assert (event.type, event.data) == ("bizbus.hr.business-trip.recorded.v1", recorded)
