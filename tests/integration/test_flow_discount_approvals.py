"""Discount approvals end to end: a CRM order beyond its salesperson's limit waits for the OA.

One stack (CRM, ERP and OA sandboxes; a worker running `travel,customers,orders`, travel being
the OA's source). 张伟 (销售经理) may sell 10 % below the ERP's list price; approvals are
filed under his name (BIZBUS_DISCOUNT_APPLICANT) and his leader 王建国 decides them in the OA.
Writes are counted in each sandbox's effects log: OA instances, ERP sale orders, CRM writes.
"""

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from bizbus.deploy.demo.actors import CrmUser, ErpUser, OaUser
from bizbus.deploy.sandbox.company import employee, product
from bizbus.deploy.sandbox.oa.seed import DISCOUNT_APPROVAL_CODE
from tests.integration.flowstack import FlowStack
from tests.integration.test_flow_cancellations import of_type
from tests.integration.test_flow_orders import (
    effects,
    ensure_crm_product,
    erp_order,
    known_customer,
    read_topic,
    wait_completed,
)
from tests.integration.test_flow_travel import control

MODEL = "HL-SM-7.5"  # ERP list price 6800
ERP_PRICE = product(MODEL).list_price
APPLICANT = employee("E1001")  # 张伟 files under his own name; his leader 王建国 decides
REQUESTED = "bizbus.sales.discount-approval.requested.v1"
DECIDED = "bizbus.sales.discount.decided.v1"
SALES_REQUEST = "bizbus.sales.sales-order.requested.v1"
COMMENT = "低于底价太多, 请按 10% 以内重新报价"
# The topics a held order goes through (each has records once one order is held; a topic
# without any cannot show it was handled); then the CRM write-back's.
HOLDING = ("src.crm.order", "cmd.erp.sales-order", "cmd.oa.approval-instance",
           "src.oa.approval-instance")  # fmt: skip
HANDLED = (*HOLDING, "cmd.crm.order")


@pytest.fixture(scope="module")
def stack(flow_stack_factory: Any) -> Iterator[FlowStack]:
    started: FlowStack = flow_stack_factory(
        flows="travel,customers,orders",
        systems=("crm", "erp", "oa"),
        sandbox_env={"BIZBUS_SANDBOX_OA_DELIVERY": '{"retry_base_s": 0.2}'},
        worker_env={
            "BIZBUS_OA_POLL_INTERVAL_S": "3600",  # decisions arrive by callback
            "BIZBUS_OA_HANDLERS": json.dumps({DISCOUNT_APPROVAL_CODE: "discount"}),
            "BIZBUS_DISCOUNT_LIMITS": json.dumps({"销售经理": 10}, ensure_ascii=False),
            "BIZBUS_DISCOUNT_DEFAULT_LIMIT": "5",
            "BIZBUS_DISCOUNT_APPLICANT": APPLICANT.oa_user_id,
        },
    )
    yield started


@pytest.fixture(scope="module")
def callbacks_on() -> dict[str, bool]:
    return {"done": False}


async def listening(stack: FlowStack, state: dict[str, bool]) -> None:
    """The OA pushes its events to the worker, which subscribed to the discount definition."""
    if state["done"]:
        return
    await control(stack, "oa", "POST", "/_sandbox/callbacks",
                  json={"url": stack.worker_url + "/webhooks/feishu"})  # fmt: skip

    async def subscribed() -> bool:
        path = "/_sandbox/effects?object=approval_subscription"
        rows = (await control(stack, "oa", "GET", path))["effects"]
        return any(row["record_id"] == DISCOUNT_APPROVAL_CODE for row in rows)

    await stack.wait_for(subscribed, what="the worker subscribing to the discount approvals")
    state["done"] = True


async def discount_instances(stack: FlowStack, oa: OaUser, order_id: str) -> list[str]:
    """The OA instances filed for `order_id` (one create effect each), oldest first."""
    rows = (await control(stack, "oa", "GET",
                          "/_sandbox/effects?object=approval_instance"))["effects"]  # fmt: skip
    found = []
    for row in rows:
        if (
            row["action"] != "create"
            or row["detail"].get("approval_code") != DISCOUNT_APPROVAL_CODE
        ):
            continue
        form = json.loads((await oa.detail(row["record_id"]))["form"])
        if any(w["custom_id"] == "crm_order_id" and w["value"] == order_id for w in form):
            found.append(row["record_id"])
    return found


async def erp_creates(stack: FlowStack, order_id: str) -> list[dict[str, Any]]:
    return [e for e in await effects(stack.urls["erp"], "sale.order")
            if e["key"] == order_id and e["action"] == "create"]  # fmt: skip


async def redeliver(stack: FlowStack, topic: str, order_id: str, ce_type: str) -> None:
    """Send every record of `ce_type` for the order on `topic` again, as Kafka may."""
    records = await of_type(stack, topic, order_id, ce_type)
    assert records, f"no {ce_type} for {order_id} on {topic}"
    await stack.send(topic, *((key, value, [(k, v.encode()) for k, v in headers.items()])
                              for key, headers, value in records))  # fmt: skip


async def discounted_order(
    stack: FlowStack, crm: CrmUser, erp: ErpUser, oa: OaUser, state: dict[str, bool], price: str
) -> tuple[str, str]:
    """A CRM order at `price` (beyond the limit), held: its one OA instance."""
    await listening(stack, state)
    await ensure_crm_product(crm, MODEL, ERP_PRICE)
    account_id = await known_customer(stack, crm, erp)
    order_id = await crm.place_order(account_id, [(MODEL, 2, Decimal(price))])
    [code] = await stack.wait_for(lambda: discount_instances(stack, oa, order_id),
                                  what=f"an OA discount approval of {order_id}")  # fmt: skip
    return order_id, code


async def redeliver_all(stack: FlowStack, topic: str) -> None:
    """Send every record of `topic` again, as Kafka may after a crash."""
    records = await read_topic(stack, topic)
    assert records, f"nothing on {topic}"
    await stack.send(topic, *((key, value, [(k, v.encode()) for k, v in headers.items()])
                              for key, headers, value in records))  # fmt: skip


async def reject(
    oa: OaUser, code: str, comment: str, *, approval_code: str = DISCOUNT_APPROVAL_CODE
) -> None:
    """Reject the pending task of an instance as its approver, saying why."""
    detail = await oa.detail(code)
    task = next(t for t in detail["task_list"] if t.get("status") == "PENDING")
    await oa._v4(
        "POST", "/tasks/reject", params={"user_id_type": "user_id"},
        json={"approval_code": approval_code, "instance_code": code,
              "user_id": task["user_id"], "task_id": task["id"], "comment": comment},
    )  # fmt: skip


async def test_a_discounted_order_waits_for_its_approval_then_is_placed_once(
    stack: FlowStack, crm: CrmUser, erp: ErpUser, oa: OaUser, callbacks_on: dict[str, bool]
) -> None:
    order_id, code = await discounted_order(stack, crm, erp, oa, callbacks_on, "5800")  # -14.7 %
    detail = await oa.detail(code)
    form = {w["custom_id"]: w["value"] for w in json.loads(detail["form"])}
    assert form["limit"] == "10%" and "(-14.71%)" in form["lines"] and "张伟" in form["salesperson"]
    assert "@" not in json.dumps(form, ensure_ascii=False)  # no e-mail address in the OA form
    # Kafka redelivers the request and the held order: still one instance, still no ERP order.
    await redeliver(stack, "cmd.oa.approval-instance", order_id, REQUESTED)
    await redeliver(stack, "cmd.erp.sales-order", order_id, SALES_REQUEST)
    await stack.wait_caught_up(*HOLDING)
    assert await discount_instances(stack, oa, order_id) == [code]
    assert await erp_order(erp, order_id) is None

    await oa.approve(DISCOUNT_APPROVAL_CODE, code)

    await wait_completed(stack, crm, erp, order_id)
    await redeliver(stack, "cmd.erp.sales-order", order_id, DECIDED)  # a decision seen twice
    await stack.wait_for_polls("crm.order")
    await stack.wait_caught_up(*HANDLED)
    assert len(await erp_creates(stack, order_id)) == 1
    assert len(await of_type(stack, "cmd.erp.sales-order", order_id, DECIDED)) == 2
    crm_order = await crm.get("Order", order_id)
    assert crm_order["Status"] == "Activated" and not crm_order.get("IntegrationNote__c")
    assert await discount_instances(stack, oa, order_id) == [code]


async def test_a_rejected_discount_sets_the_crm_order_rejected_with_the_comment(
    stack: FlowStack, crm: CrmUser, erp: ErpUser, oa: OaUser, callbacks_on: dict[str, bool]
) -> None:
    order_id, code = await discounted_order(stack, crm, erp, oa, callbacks_on, "5500")

    await reject(oa, code, COMMENT)

    async def rejected() -> dict[str, Any] | None:
        row = await crm.get("Order", order_id)
        return row if row.get("Status") == "Rejected" else None

    row = await stack.wait_for(rejected, what="the CRM order Rejected")
    assert (
        row["IntegrationNote__c"]
        == "Discount rejected in the OA: 低于底价太多, 请按 10% 以内重新报价"
    )
    await stack.wait_for_polls("crm.order")
    await stack.wait_caught_up(*HANDLED)
    assert await erp_order(erp, order_id) is None
    statuses = [e["detail"]["fields"]["Status"] for e in await effects(stack.urls["crm"], "Order")
                if e["record_id"] == order_id and "Status" in e["detail"]["fields"]]  # fmt: skip
    # the salesperson's draft and activation, then our one rejection; its echo asks nothing more
    assert statuses == ["Draft", "Activated", "Rejected"]
    assert await of_type(stack, "cmd.erp.sales-order", order_id, SALES_REQUEST) != []
    assert len(await of_type(stack, "cmd.crm.order", order_id,
                             "bizbus.sales.order.update-requested.v1")) == 1  # fmt: skip


async def test_an_order_within_the_limit_goes_straight_to_the_erp(
    stack: FlowStack, crm: CrmUser, erp: ErpUser, oa: OaUser
) -> None:
    await ensure_crm_product(crm, MODEL, ERP_PRICE)
    account_id = await known_customer(stack, crm, erp)
    order_id = await crm.place_order(account_id, [(MODEL, 1, Decimal("6300"))])  # -7.4 %

    await wait_completed(stack, crm, erp, order_id)
    await stack.wait_caught_up(*HANDLED)
    assert len(await erp_creates(stack, order_id)) == 1
    assert await discount_instances(stack, oa, order_id) == []
    assert await of_type(stack, "cmd.oa.approval-instance", order_id, REQUESTED) == []
    assert await read_topic(stack, "cmd.oa.approval-instance.dlq") == []
