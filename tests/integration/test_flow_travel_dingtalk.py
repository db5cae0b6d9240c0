"""travel end to end with the OA dialect set to dingtalk: the flow unchanged, the OA DingTalk.

One stack (ERP + the DingTalk sandbox, a worker running only `travel`, `BIZBUS_OA_DIALECT=
dingtalk` from the sandbox wiring). The worker's `/webhooks/dingtalk` is registered at the
sandbox (its `check_url` answered with an encrypted success), so DingTalk's encrypted, signed
`bpms_instance_change` pushes drive the flow. Catch-up polling is off (once an hour) until the
last test restarts the worker with it on. Effects are read from the ERP's effects log.
"""

from collections.abc import AsyncIterator, Iterator
from datetime import date
from typing import Any

import httpx
import pytest

from bizbus.deploy.demo.actors import ErpUser
from bizbus.deploy.sandbox.company import employee
from bizbus.deploy.sandbox.dingtalk.seed import userid_of
from bizbus.deploy.sandbox.dingtalk.staff import DingTalkStaff
from bizbus.schemas import BusinessTripRecordedV1, Envelope, decode_record
from tests.integration.flowstack import FlowStack
from tests.integration.test_flow_travel import (
    control,
    employee_id,
    leave_effects,
    leave_of,
    records_of,
)

TRAVELLER = employee("E1002")  # 李娜, matched by employee number (DingTalk's job number)
LATE_TRAVELLER = employee("E1008")  # 黄强
WEBHOOK = "/webhooks/dingtalk"
state: dict[str, Any] = {}


@pytest.fixture(scope="module")
def stack(flow_stack_factory: Any) -> Iterator[FlowStack]:
    started: FlowStack = flow_stack_factory(
        flows="travel",
        systems=("erp", "dingtalk"),
        sandbox_env={"BIZBUS_SANDBOX_DINGTALK_DELIVERY": '{"retry_base_s": 0.2}'},
        worker_env={"BIZBUS_OA_POLL_INTERVAL_S": "3600"},
    )
    yield started


@pytest.fixture
async def dingtalk(stack: FlowStack) -> AsyncIterator[DingTalkStaff]:
    async with DingTalkStaff(stack.urls["dingtalk"]) as staff:
        yield staff


async def validated(erp: ErpUser, code: str) -> dict[str, Any] | None:
    leave = await leave_of(erp, code)
    return leave if leave and leave["state"] == "validate" else None


async def test_the_worker_registers_as_dingtalks_callback(stack: FlowStack) -> None:
    url = stack.worker_url + WEBHOOK

    async def registered() -> dict[str, Any] | None:
        async with httpx.AsyncClient(base_url=stack.urls["dingtalk"], timeout=10) as http:
            answer = await http.post("/_sandbox/callbacks", json={"url": url})
        # The worker's web server may still be starting: DingTalk's console says try again.
        return answer.json() if answer.status_code == 201 else None

    callback = await stack.wait_for(registered, what="check_url answered by the worker")
    assert callback["url"] == url
    async with httpx.AsyncClient(base_url=stack.worker_url, timeout=10) as http:
        feishu = await http.post("/webhooks/feishu", content=b"{}")
    assert feishu.status_code == 404  # the OA is DingTalk: Feishu's page takes nothing


async def test_an_approved_trip_becomes_one_erp_business_trip(
    stack: FlowStack, erp: ErpUser, dingtalk: DingTalkStaff
) -> None:
    code = await dingtalk.file_trip(
        userid_of(TRAVELLER.number), destination="上海", start=date(2026, 12, 7), days=3,
        purpose="参加中国国际工业博览会",
    )  # fmt: skip
    await dingtalk.decide(code, remark="同意")
    state["code"] = code

    leave = await stack.wait_for(
        lambda: validated(erp, code), what="the approved trip in the ERP", timeout_s=45
    )
    assert leave["employee_id"][0] == await employee_id(erp, "barcode", TRAVELLER.number)
    assert (leave["request_date_from"], leave["request_date_to"]) == ("2026-12-07", "2026-12-09")
    assert leave["x_destination"] == "上海"
    assert "参加中国国际工业博览会" in leave["name"]
    effects = await leave_effects(stack, code)
    assert [e["action"] for e in effects].count("create") == 1
    state["effects"] = len(effects)

    pushed = await control(stack, "dingtalk", "GET", f"/_sandbox/deliveries?instance_id={code}")
    kinds = [(d["payload"]["type"], d["status"]) for d in pushed["deliveries"]]
    assert kinds == [("start", "delivered"), ("finish", "delivered")], kinds
    requests = (await control(stack, "dingtalk", "GET", "/_sandbox/requests"))["requests"]
    paths = {r["path"] for r in requests}
    assert "/v1.0/workflow/processInstances" in paths  # the detail, read by the flow
    assert "/topapi/v2/user/get" in paths  # the applicant and approver, from the directory


async def test_a_revoked_trip_is_refused_in_the_erp_once(
    stack: FlowStack, erp: ErpUser, dingtalk: DingTalkStaff
) -> None:
    code = state["code"]
    await dingtalk.revoke(code, remark="展会延期")

    async def refused() -> bool:
        leave = await leave_of(erp, code)
        return bool(leave and leave["state"] == "refuse")

    await stack.wait_for(refused, what="the revoked trip refused in the ERP", timeout_s=45)
    effects = await leave_effects(stack, code)
    actions = [e["action"] for e in effects[state["effects"] :]]
    assert actions.count("action_refuse") == 1, actions
    state["effects"] = len(effects)

    async def recorded() -> list[Envelope[BusinessTripRecordedV1]] | None:
        found = [decode_record(r.value, r.headers, keys=stack.keys)
                 for r in await records_of(stack, "biz.hr.business-trip", code)]  # fmt: skip
        return found if len(found) >= 2 else None

    events = await stack.wait_for(recorded, what="both business-trip records", timeout_s=30)
    assert [e.data.state for e in events] == ["confirmed", "cancelled"]


async def test_a_trip_approved_while_the_webhook_was_away_is_caught_up(
    stack: FlowStack, erp: ErpUser, dingtalk: DingTalkStaff
) -> None:
    stack.stop_worker()
    await control(stack, "dingtalk", "DELETE", "/_sandbox/callbacks")
    code = await dingtalk.file_trip(
        userid_of(LATE_TRAVELLER.number), destination="宁波", start=date(2026, 12, 14), days=2,
        purpose="客户设备验收",
    )  # fmt: skip
    await dingtalk.decide(code)
    pushed = await control(stack, "dingtalk", "GET", f"/_sandbox/deliveries?instance_id={code}")
    assert pushed["deliveries"] == []

    stack.extra_env["BIZBUS_OA_POLL_INTERVAL_S"] = "1"
    stack.start_worker()
    leave = await stack.wait_for(
        lambda: validated(erp, code), what="the caught-up trip in the ERP", timeout_s=60
    )
    assert leave["employee_id"][0] == await employee_id(erp, "barcode", LATE_TRAVELLER.number)
    assert leave["x_destination"] == "宁波"
    assert [e["action"] for e in await leave_effects(stack, code)].count("create") == 1
    # The catch-up re-read the revoked trip too: nothing was written for it.
    assert len(await leave_effects(stack, state["code"])) == state["effects"]
