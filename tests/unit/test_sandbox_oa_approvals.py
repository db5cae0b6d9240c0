"""Sandbox OA approval state machine, form checks and event bodies, on an in-memory store."""

import json

import pytest

from bizbus.deploy.sandbox.app import SandboxContext
from bizbus.deploy.sandbox.clock import SandboxClock
from bizbus.deploy.sandbox.oa.approvals import ApprovalBook
from bizbus.deploy.sandbox.oa.errors import FeishuError
from bizbus.deploy.sandbox.oa.events import TRIP_EVENT_TYPE, AppIdentity, events_for
from bizbus.deploy.sandbox.oa.seed import TRAVEL_APPROVAL_CODE, seed
from bizbus.deploy.sandbox.store import SandboxStore

APP = AppIdentity("cli_sandbox0001", "2ed263bf32cf1651", "sandbox-encrypt-key", "vt-123")
APPLICANT, LEADER = "f8ca557e", "5d9bd9a1"  # 张伟 E1001 (销售经理) and his leader 王建国 E1000


def trip_form(destination: str = "上海", purpose: str = "参加工博会") -> str:
    widgets = [
        {"id": "widget_trip", "type": "tripGroup", "value": {"schedule": [
            {"start": "2024-09-24T08:00:00+08:00", "end": "2024-09-27T20:00:00+08:00",
             "departure": "苏州", "destination": destination, "transportation": "高铁"},
        ]}},
        {"id": "widget_purpose", "type": "textarea", "value": purpose},
    ]  # fmt: skip
    return json.dumps(widgets, ensure_ascii=False)


@pytest.fixture
def book() -> ApprovalBook:
    store = SandboxStore()
    seed(store, with_data=True)
    return ApprovalBook(SandboxContext("oa", store, SandboxClock()), app_id=APP.app_id)


def create(book: ApprovalBook, uuid: str | None = "u-1", **changes: str) -> str:
    body = {"approval_code": TRAVEL_APPROVAL_CODE, "user_id": APPLICANT, "form": trip_form()}
    if uuid is not None:
        body["uuid"] = uuid
    code, _ = book.create({**body, **changes})
    return code


def pending_task(book: ApprovalBook, code: str) -> str:
    return str(book.detail(code)["task_list"][0]["id"])


def test_create_starts_pending_with_a_task_for_the_direct_leader(book: ApprovalBook) -> None:
    code, changes = book.create(
        {"approval_code": TRAVEL_APPROVAL_CODE, "user_id": APPLICANT, "form": trip_form()}
    )
    detail = book.detail(code)
    assert detail["status"] == "PENDING" and detail["end_time"] == "0"
    assert detail["task_list"][0]["user_id"] == LEADER
    assert detail["timeline"][0]["type"] == "START"
    assert detail["serial_number"].endswith("0001")
    assert json.loads(detail["form"])[0]["name"] == "出差"
    assert [change.status for change in changes] == ["PENDING"]


def test_same_uuid_same_content_returns_the_same_instance_without_new_event(
    book: ApprovalBook,
) -> None:
    first = create(book, "trip-0001")
    again, changes = book.create(
        {"approval_code": TRAVEL_APPROVAL_CODE, "user_id": APPLICANT, "form": trip_form(),
         "uuid": "TRIP-0001"}
    )  # fmt: skip
    assert again == first and changes == []
    assert len(book.store.effects(object_name="approval_instance")) == 1


def test_same_uuid_other_content_is_refused_with_60012(book: ApprovalBook) -> None:
    create(book, "trip-0002")
    with pytest.raises(FeishuError) as caught:
        create(book, "trip-0002", form=trip_form(destination="北京"))
    assert caught.value.code == 60012


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"approval_code": "NOPE"}, 1390002),
        ({"user_id": "nobody"}, 1390001),
        ({"form": "not json"}, 1390001),
        ({"form": json.dumps([{"id": "widget_purpose", "type": "textarea", "value": "x"}])},
         1390001),
        ({"form": trip_form().replace("2024-09-27T20:00:00+08:00", "2024-09-20T20:00:00+08:00")},
         1390001),
        ({"form": trip_form().replace("+08:00", "")}, 1390001),
    ],
)  # fmt: skip
def test_invalid_creates_are_refused(
    book: ApprovalBook, changes: dict[str, str], code: int
) -> None:
    with pytest.raises(FeishuError) as caught:
        create(book, None, **changes)
    assert caught.value.code == code
    assert caught.value.http_status == 400


def test_approve_ends_the_instance_and_emits_status_and_trip_events(book: ApprovalBook) -> None:
    code = create(book)
    body = {"approval_code": TRAVEL_APPROVAL_CODE, "instance_code": code,
            "user_id": LEADER, "task_id": pending_task(book, code), "comment": "同意"}  # fmt: skip
    [change] = book.decide(body, approve=True, id_type="user_id")
    detail = book.detail(code)
    assert detail["status"] == "APPROVED" and detail["end_time"] != "0"
    assert detail["task_list"][0]["status"] == "APPROVED"
    assert [step["type"] for step in detail["timeline"]] == ["START", "PASS"]
    assert detail["comment_list"][0]["comment"] == "同意"

    status_event, trip_event = events_for(APP, change)
    assert status_event["type"] == "event_callback"
    assert status_event["event"]["status"] == "APPROVED"
    assert status_event["event"]["uuid"] == "u-1"
    assert trip_event["schema"] == "2.0"
    assert trip_event["header"]["event_type"] == TRIP_EVENT_TYPE
    schedule = trip_event["event"]["schedules"][0]
    assert (schedule["departure"], schedule["destination"]) == ("苏州", "上海")
    assert schedule["trip_interval"] == str((3 * 24 + 12) * 3600)
    assert trip_event["event"]["start_user"]["id"]["user_id"] == APPLICANT
    assert trip_event["event"]["trip_reason"] == "参加工博会"

    with pytest.raises(FeishuError):  # no longer pending
        book.decide(body, approve=True, id_type="user_id")
    actions = [effect["action"] for effect in book.store.effects()]
    assert actions == ["create", "approve"]
    assert {effect["key"] for effect in book.store.effects()} == {"u-1"}


def test_only_the_assigned_approver_can_decide_and_default_ids_are_open_ids(
    book: ApprovalBook,
) -> None:
    code = create(book)
    body = {"approval_code": TRAVEL_APPROVAL_CODE, "instance_code": code,
            "task_id": pending_task(book, code)}  # fmt: skip
    with pytest.raises(FeishuError):
        book.decide({**body, "user_id": APPLICANT}, approve=True, id_type="user_id")
    with pytest.raises(FeishuError):  # a user_id where an open_id is expected
        book.decide({**body, "user_id": LEADER}, approve=False, id_type="open_id")
    leader_open_id = book.employee(LEADER)["open_id"]
    [change] = book.decide({**body, "user_id": leader_open_id}, approve=False, id_type="open_id")
    assert change.status == "REJECTED"
    assert [event["event"]["status"] for event in events_for(APP, change)] == ["REJECTED"]


def test_cancel_is_for_the_applicant_only(book: ApprovalBook) -> None:
    code = create(book)
    body = {"approval_code": TRAVEL_APPROVAL_CODE, "instance_code": code}
    with pytest.raises(FeishuError):
        book.cancel({**body, "user_id": LEADER}, id_type="user_id")
    [change] = book.cancel({**body, "user_id": APPLICANT}, id_type="user_id")
    assert change.status == "CANCELED"
    assert book.detail(code)["task_list"][0]["status"] == "DONE"


def test_list_pages_through_codes_in_a_time_window(book: ApprovalBook) -> None:
    codes = {create(book, f"u-{n}") for n in range(5)}
    now = book.now_ms()
    seen: list[str] = []
    token = ""
    while True:
        page = book.list_codes(TRAVEL_APPROVAL_CODE, now - 60_000, now + 1, page_size=2,
                               page_token=token)  # fmt: skip
        seen += page["instance_code_list"]
        if not page["has_more"]:
            break
        token = page["page_token"]
    assert set(seen) == codes and len(seen) == 5
    assert book.list_codes(TRAVEL_APPROVAL_CODE, 0, now - 60_000, page_size=10,
                           page_token="")["instance_code_list"] == []  # fmt: skip


def test_subscribe_twice_is_refused_with_1390007(book: ApprovalBook) -> None:
    assert not book.subscribed(TRAVEL_APPROVAL_CODE)
    book.subscribe(TRAVEL_APPROVAL_CODE)
    assert book.subscribed(TRAVEL_APPROVAL_CODE)
    with pytest.raises(FeishuError) as caught:
        book.subscribe(TRAVEL_APPROVAL_CODE)
    assert caught.value.code == 1390007
