"""Sandbox OA revocation (撤销) of an approved instance: state, effect, event, control API."""

import json

import httpx
import pytest

from bizbus.deploy.sandbox.app import SandboxConfig, SandboxContext
from bizbus.deploy.sandbox.clock import SandboxClock
from bizbus.deploy.sandbox.oa import create_app
from bizbus.deploy.sandbox.oa.approvals import ApprovalBook
from bizbus.deploy.sandbox.oa.errors import FeishuError
from bizbus.deploy.sandbox.oa.events import AppIdentity, events_for
from bizbus.deploy.sandbox.oa.seed import TRAVEL_APPROVAL_CODE, seed
from bizbus.deploy.sandbox.store import SandboxStore

APP = AppIdentity("cli_sandbox0001", "2ed263bf32cf1651", "sandbox-encrypt-key", "vt-123")
APPLICANT = "f8ca557e"
FORM = json.dumps(
    [
        {"id": "widget_trip", "type": "tripGroup", "value": {"schedule": [
            {"start": "2024-09-24T08:00:00+08:00", "end": "2024-09-27T20:00:00+08:00",
             "departure": "苏州", "destination": "上海", "transportation": "高铁"}]}},
        {"id": "widget_purpose", "type": "textarea", "value": "参加工博会"},
    ],
    ensure_ascii=False,
)  # fmt: skip


@pytest.fixture
def book() -> ApprovalBook:
    store = SandboxStore()
    seed(store, with_data=True)
    return ApprovalBook(SandboxContext("oa", store, SandboxClock()), app_id=APP.app_id)


def approved(book: ApprovalBook) -> str:
    code, _ = book.create(
        {"approval_code": TRAVEL_APPROVAL_CODE, "user_id": APPLICANT, "form": FORM, "uuid": "u-1"}
    )
    task = book.detail(code)["task_list"][0]
    body = {"approval_code": TRAVEL_APPROVAL_CODE, "instance_code": code,
            "user_id": task["user_id"], "task_id": task["id"]}  # fmt: skip
    book.decide(body, approve=True, id_type="user_id")
    return code


def test_an_approved_instance_is_reverted_once_with_an_event_and_an_effect(
    book: ApprovalBook,
) -> None:
    code = approved(book)
    [change] = book.revert(code, comment="行程取消")
    detail = book.detail(code)
    assert (detail["status"], detail["reverted"]) == ("REVERTED", True)
    assert detail["timeline"][-1]["type"] == "REVERT"
    assert detail["timeline"][-1]["comment"] == "行程取消"
    assert [event["event"]["status"] for event in events_for(APP, change)] == ["REVERTED"]
    assert [e["action"] for e in book.store.effects()] == ["create", "approve", "revert"]
    with pytest.raises(FeishuError, match="not APPROVED"):
        book.revert(code)


def test_a_pending_instance_cannot_be_reverted(book: ApprovalBook) -> None:
    code, _ = book.create(
        {"approval_code": TRAVEL_APPROVAL_CODE, "user_id": APPLICANT, "form": FORM}
    )
    with pytest.raises(FeishuError, match="not APPROVED"):
        book.revert(code)


async def test_the_control_route_answers_feishu_codes() -> None:
    transport = httpx.ASGITransport(app=create_app(SandboxConfig()))
    async with httpx.AsyncClient(transport=transport, base_url="http://oa") as http:
        unknown = await http.post("/_sandbox/instances/revert", json={"instance_code": "nope"})
        missing = await http.post("/_sandbox/instances/revert", json={})
    assert (unknown.status_code, unknown.json()["code"]) == (400, 1390003)
    assert (missing.status_code, missing.json()["code"]) == (400, 1390001)
