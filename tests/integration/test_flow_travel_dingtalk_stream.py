"""travel with DingTalk in Stream mode: the worker holds DingTalk's WebSocket, no callback URL.

One stack (ERP + the DingTalk sandbox, a worker running only `travel` with
`BIZBUS_OA_MODE=stream`). The worker opens the stream at the sandbox's gateway; approval events
arrive over it and are acknowledged; no HTTP callback is registered at all.
"""

from collections.abc import AsyncIterator, Iterator
from datetime import date
from typing import Any

import pytest

from bizbus.deploy.demo.actors import ErpUser
from bizbus.deploy.sandbox.company import employee
from bizbus.deploy.sandbox.dingtalk.seed import userid_of
from bizbus.deploy.sandbox.dingtalk.staff import DingTalkStaff
from tests.integration.flowstack import FlowStack
from tests.integration.test_flow_travel import control, employee_id, leave_effects, leave_of

TRAVELLER = employee("E1003")  # 王芳


@pytest.fixture(scope="module")
def stack(flow_stack_factory: Any) -> Iterator[FlowStack]:
    started: FlowStack = flow_stack_factory(
        flows="travel",
        systems=("erp", "dingtalk"),
        sandbox_env={"BIZBUS_SANDBOX_DINGTALK_DELIVERY": '{"retry_base_s": 0.2}'},
        worker_env={"BIZBUS_OA_POLL_INTERVAL_S": "3600", "BIZBUS_OA_MODE": "stream"},
    )
    yield started


@pytest.fixture
async def dingtalk(stack: FlowStack) -> AsyncIterator[DingTalkStaff]:
    async with DingTalkStaff(stack.urls["dingtalk"]) as staff:
        yield staff


async def test_a_trip_approved_and_revoked_flows_over_the_stream(
    stack: FlowStack, erp: ErpUser, dingtalk: DingTalkStaff
) -> None:
    async def connected() -> bool:
        answer = await control(stack, "dingtalk", "GET", "/_sandbox/stream/deliveries")
        return bool(answer["connections"])

    await stack.wait_for(connected, what="the worker holding DingTalk's stream", timeout_s=60)
    code = await dingtalk.file_trip(
        userid_of(TRAVELLER.number), destination="青岛", start=date(2026, 12, 15), days=2,
        purpose="设备安装调试",
    )  # fmt: skip
    await dingtalk.decide(code)

    async def validated() -> dict[str, Any] | None:
        leave = await leave_of(erp, code)
        return leave if leave and leave["state"] == "validate" else None

    leave = await stack.wait_for(validated, what="the streamed trip in the ERP", timeout_s=45)
    assert leave["employee_id"][0] == await employee_id(erp, "barcode", TRAVELLER.number)
    assert leave["x_destination"] == "青岛"
    created = [e["action"] for e in await leave_effects(stack, code)].count("create")
    assert created == 1

    await dingtalk.revoke(code, remark="客户改期")

    async def refused() -> bool:
        found = await leave_of(erp, code)
        return bool(found and found["state"] == "refuse")

    await stack.wait_for(refused, what="the revoked trip refused in the ERP", timeout_s=45)
    actions = [e["action"] for e in await leave_effects(stack, code)]
    assert actions.count("create") == 1 and actions.count("action_refuse") == 1, actions

    streamed = await control(stack, "dingtalk", "GET", "/_sandbox/stream/deliveries")
    mine = [(d["kind"], d["status"]) for d in streamed["deliveries"] if d["instance_id"] == code]
    assert mine == [("start", "delivered"), ("finish", "delivered"), ("terminate", "delivered")]
    pushed = await control(stack, "dingtalk", "GET", f"/_sandbox/deliveries?instance_id={code}")
    assert pushed["deliveries"] == []  # nothing came by HTTP
