"""Discount approvals with the OA dialect set to dingtalk: the orders flow unchanged.

One stack (CRM, ERP and the DingTalk sandbox; a worker running `travel,customers,orders`).
张伟 (销售经理) may sell 10 % below the ERP's list price; the approval is filed in DingTalk under
his userid (the 折扣审批 form, its components found by business alias) and his manager decides.
"""

import json
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from bizbus.deploy.demo.actors import CrmUser, ErpUser
from bizbus.deploy.sandbox.company import employee, product
from bizbus.deploy.sandbox.dingtalk.seed import DISCOUNT_PROCESS_CODE, userid_of
from bizbus.deploy.sandbox.dingtalk.staff import DingTalkStaff
from tests.integration.flowstack import FlowStack
from tests.integration.test_flow_orders import (
    ensure_crm_product,
    erp_order,
    known_customer,
    wait_completed,
)
from tests.integration.test_flow_travel import control

MODEL = "HL-SM-7.5"  # ERP list price 6800
APPLICANT = employee("E1001")  # 张伟
COMMENT = "低于底价太多, 请按 10% 以内重新报价"


@pytest.fixture(scope="module")
def stack(flow_stack_factory: Any) -> Iterator[FlowStack]:
    started: FlowStack = flow_stack_factory(
        flows="travel,customers,orders",
        systems=("crm", "erp", "dingtalk"),
        sandbox_env={"BIZBUS_SANDBOX_DINGTALK_DELIVERY": '{"retry_base_s": 0.2}'},
        worker_env={
            "BIZBUS_OA_POLL_INTERVAL_S": "3600",  # decisions arrive by callback
            "BIZBUS_OA_HANDLERS": json.dumps({DISCOUNT_PROCESS_CODE: "discount"}),
            "BIZBUS_DISCOUNT_LIMITS": json.dumps({"销售经理": 10}, ensure_ascii=False),
            "BIZBUS_DISCOUNT_DEFAULT_LIMIT": "5",
            "BIZBUS_DISCOUNT_APPLICANT": userid_of(APPLICANT.number),
        },
    )
    yield started


@pytest.fixture
async def dingtalk(stack: FlowStack) -> AsyncIterator[DingTalkStaff]:
    async with DingTalkStaff(stack.urls["dingtalk"]) as staff:
        yield staff


async def listening(stack: FlowStack) -> None:
    url = stack.worker_url + "/webhooks/dingtalk"
    callbacks = (await control(stack, "dingtalk", "GET", "/_sandbox/callbacks"))["callbacks"]
    if any(c["url"] == url for c in callbacks):
        return

    async def registered() -> bool:
        async with httpx.AsyncClient(base_url=stack.urls["dingtalk"], timeout=10) as http:
            return (await http.post("/_sandbox/callbacks", json={"url": url})).status_code == 201

    await stack.wait_for(registered, what="check_url answered by the worker")


async def discount_instances(stack: FlowStack, staff: DingTalkStaff, order_id: str) -> list[str]:
    rows = (await control(stack, "dingtalk", "GET",
                          "/_sandbox/effects?object=process_instance"))["effects"]  # fmt: skip
    found = []
    for row in rows:
        if row["action"] != "create" or row["detail"]["processCode"] != DISCOUNT_PROCESS_CODE:
            continue
        values = (await staff.detail(row["record_id"]))["formComponentValues"]
        if any(v["bizAlias"] == "crm_order_id" and v["value"] == order_id for v in values):
            found.append(row["record_id"])
    return found


async def discounted_order(
    stack: FlowStack, crm: CrmUser, erp: ErpUser, staff: DingTalkStaff, price: str
) -> tuple[str, str]:
    await listening(stack)
    await ensure_crm_product(crm, MODEL, product(MODEL).list_price)
    account_id = await known_customer(stack, crm, erp)
    order_id = await crm.place_order(account_id, [(MODEL, 2, Decimal(price))])
    [code] = await stack.wait_for(lambda: discount_instances(stack, staff, order_id),
                                  what=f"a DingTalk discount approval of {order_id}")  # fmt: skip
    return order_id, code


async def test_a_discounted_order_waits_for_its_dingtalk_approval_then_is_placed_once(
    stack: FlowStack, crm: CrmUser, erp: ErpUser, dingtalk: DingTalkStaff
) -> None:
    order_id, code = await discounted_order(stack, crm, erp, dingtalk, "5800")  # -14.7 %
    detail = await dingtalk.detail(code)
    form = {v["bizAlias"]: v["value"] for v in detail["formComponentValues"]}
    assert form["limit"] == "10%" and "(-14.71%)" in form["lines"] and "张伟" in form["salesperson"]
    assert detail["originatorUserId"] == userid_of(APPLICANT.number)
    assert await erp_order(erp, order_id) is None

    await dingtalk.decide(code)

    await wait_completed(stack, crm, erp, order_id)
    creates = [e for e in (await control(stack, "erp", "GET",
                                         "/_sandbox/effects?object=sale.order"))["effects"]
               if e["key"] == order_id and e["action"] == "create"]  # fmt: skip
    assert len(creates) == 1
    assert await discount_instances(stack, dingtalk, order_id) == [code]


async def test_a_refused_discount_sets_the_crm_order_rejected_with_the_remark(
    stack: FlowStack, crm: CrmUser, erp: ErpUser, dingtalk: DingTalkStaff
) -> None:
    order_id, code = await discounted_order(stack, crm, erp, dingtalk, "5500")

    await dingtalk.decide(code, agree=False, remark=COMMENT)

    async def rejected() -> dict[str, Any] | None:
        row = await crm.get("Order", order_id)
        return row if row.get("Status") == "Rejected" else None

    row = await stack.wait_for(rejected, what="the CRM order Rejected")
    assert row["IntegrationNote__c"] == f"Discount rejected in the OA: {COMMENT}"
    assert await erp_order(erp, order_id) is None
