"""OA forms no handler claims: ignored with one log line, never dead-lettered; trips still flow.

One stack (ERP + OA sandboxes, a worker running only `travel`, `BIZBUS_OA_HANDLERS` naming the
travel definition). Another integration on the same Feishu app subscribed to the purchase
request definition, so its events reach the worker's webhook too; the worker answers them 200
and publishes nothing. A raw record of that definition captured before handlers existed (no
handler in it) is skipped by the travel stage, not dead-lettered.
"""

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest

from bizbus.connectors.base import Cursor, SourceRecord
from bizbus.deploy.demo.actors import ErpUser, OaUser
from bizbus.deploy.sandbox.company import employee
from bizbus.deploy.sandbox.oa.seed import PURCHASE_APPROVAL_CODE, TRAVEL_APPROVAL_CODE
from bizbus.flows.runtime.polling import raw_event
from tests.integration.flowstack import FlowStack
from tests.integration.test_flow_orders import read_topic
from tests.integration.test_flow_travel import control, file_and_approve, leave_of

BUYER = employee("E1002")  # 李娜, whose purchase request her leader 张伟 approves
RAW_TOPIC, TRAVEL_TOPIC = "src.oa.approval-instance", "biz.hr.travel"
CLAIM_LINE = "no handler claims it"


@pytest.fixture(scope="module")
def stack(flow_stack_factory: Any) -> Iterator[FlowStack]:
    started: FlowStack = flow_stack_factory(
        flows="travel",
        systems=("erp", "oa"),
        sandbox_env={"BIZBUS_SANDBOX_OA_DELIVERY": '{"retry_base_s": 0.2}'},
        worker_env={
            "BIZBUS_OA_POLL_INTERVAL_S": "3600",
            "BIZBUS_OA_HANDLERS": json.dumps({TRAVEL_APPROVAL_CODE: "travel"}),
        },
    )
    yield started


async def file_purchase(oa: OaUser) -> str:
    form = [
        {"id": "widget_item", "type": "input", "value": "游标卡尺 20 把"},
        {"id": "widget_amount", "type": "input", "value": "3600"},
        {"id": "widget_reason", "type": "textarea", "value": "质检部更换量具"},
    ]
    data = await oa._v4(
        "POST", "/instances", params={"user_id_type": "user_id"},
        json={"approval_code": PURCHASE_APPROVAL_CODE, "user_id": BUYER.oa_user_id,
              "form": json.dumps(form, ensure_ascii=False), "uuid": str(uuid.uuid4())},
    )  # fmt: skip
    code: str = data["instance_code"]
    await oa.approve(PURCHASE_APPROVAL_CODE, code)
    return code


def claim_lines(stack: FlowStack) -> list[str]:
    return [line for line in stack.log_path.read_text().splitlines() if CLAIM_LINE in line]


async def keyed(stack: FlowStack, logical: str, part: str) -> list[Any]:
    return [r for r in await read_topic(stack, logical) if part.encode() in r[0]]


async def test_an_unclaimed_form_is_ignored_and_a_trip_still_flows(
    stack: FlowStack, erp: ErpUser, oa: OaUser
) -> None:
    await control(stack, "oa", "POST", "/_sandbox/callbacks",
                  json={"url": stack.worker_url + "/webhooks/feishu"})  # fmt: skip

    async def subscribed() -> bool:
        path = "/_sandbox/effects?object=approval_subscription"
        return bool((await control(stack, "oa", "GET", path))["effects"])

    await stack.wait_for(subscribed, what="the worker subscribing to the travel approvals")
    await oa._v4("POST", f"/approvals/{PURCHASE_APPROVAL_CODE}/subscribe")  # another team

    purchase = await file_purchase(oa)

    async def delivered() -> list[dict[str, Any]] | None:
        path = f"/_sandbox/deliveries?instance_code={purchase}"
        rows: list[dict[str, Any]] = (await control(stack, "oa", "GET", path))["deliveries"]
        statuses = {row["event"]["event"]["status"] for row in rows}
        done = all(row["status"] == "delivered" for row in rows)
        return rows if done and statuses == {"PENDING", "APPROVED"} else None

    rows = await stack.wait_for(delivered, what="the purchase events answered by the worker")
    assert all(a["http_status"] == 200 for row in rows for a in row["attempt_log"])
    lines = claim_lines(stack)
    assert len(lines) == 2 and all(PURCHASE_APPROVAL_CODE in line for line in lines), lines
    assert not any(purchase in line or BUYER.name in line for line in lines)

    trip = await file_and_approve(oa, BUYER.oa_user_id, "杭州", date(2026, 12, 21))

    async def validated() -> bool:
        leave = await leave_of(erp, trip)
        return bool(leave and leave["state"] == "validate")

    await stack.wait_for(validated, what="the approved trip in the ERP", timeout_s=30)
    await stack.wait_caught_up(RAW_TOPIC, TRAVEL_TOPIC)
    assert await keyed(stack, RAW_TOPIC, purchase) == [], "the purchase was published"
    assert await keyed(stack, TRAVEL_TOPIC, purchase) == []
    assert await read_topic(stack, RAW_TOPIC + ".dlq") == []


async def test_a_record_captured_before_handlers_existed_is_skipped_not_dead_lettered(
    stack: FlowStack,
) -> None:
    before = len(claim_lines(stack))
    code = "OLD-PURCHASE-" + uuid.uuid4().hex[:8].upper()
    when = datetime.now(UTC)
    old = SourceRecord(
        entity="approval_instance", id=code, cursor=Cursor(when, code), modified_at=when,
        payload={"approval_code": PURCHASE_APPROVAL_CODE, "instance_code": code,
                 "status": "APPROVED", "event_type": "approval_instance"},
    )  # fmt: skip
    await stack.publish(RAW_TOPIC, raw_event("oa", old))
    await stack.wait_caught_up(RAW_TOPIC)
    assert await read_topic(stack, RAW_TOPIC + ".dlq") == []
    assert await keyed(stack, TRAVEL_TOPIC, code) == []
    lines = claim_lines(stack)[before:]
    assert len(lines) == 1 and PURCHASE_APPROVAL_CODE in lines[0], lines
