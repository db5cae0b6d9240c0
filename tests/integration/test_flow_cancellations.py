"""Cancellations end to end: a CRM cancel cancels the ERP order once, or is refused with why.

One stack (CRM + ERP sandboxes, a worker running `customers,orders,fulfilment`). The ERP's
fulfilment steps are an hour apart, so a confirmed order waits unmade until the test moves the
ERP clock on. People act through each system's API; ERP writes are counted in its effects log.
"""

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from bizbus.deploy.demo.actors import CrmUser, ErpUser
from bizbus.deploy.sandbox.company import product
from tests.integration.flowstack import FlowStack
from tests.integration.test_flow_orders import (
    Record,
    effects,
    ensure_crm_product,
    erp_order,
    known_customer,
    read_topic,
    wait_completed,
)

MODEL = "HL-SM-7.5"
STEP_S = 3600
# The topics an order's cancellation goes through (every one has records by then).
HANDLED = ("src.crm.order", "cmd.erp.sales-order", "cmd.crm.order", "src.erp.sale-order")


@pytest.fixture(scope="module")
def stack(flow_stack_factory: Any) -> Iterator[FlowStack]:
    started: FlowStack = flow_stack_factory(
        flows="customers,orders,fulfilment",
        systems=("crm", "erp"),
        sandbox_env={"BIZBUS_SANDBOX_ERP_STEP_S": str(STEP_S)},
    )
    yield started


async def sent_order(stack: FlowStack, crm: CrmUser, erp: ErpUser) -> tuple[str, str]:
    """A CRM order activated and confirmed in the ERP (its number written back)."""
    await ensure_crm_product(crm, MODEL, product(MODEL).list_price)
    account_id = await known_customer(stack, crm, erp)
    order_id = await crm.place_order(account_id, [(MODEL, 1, Decimal("6500"))])
    return order_id, await wait_completed(stack, crm, erp, order_id)


async def erp_actions(stack: FlowStack, order_id: str, action: str) -> list[dict[str, Any]]:
    return [
        e for e in await effects(stack.urls["erp"], "sale.order")
        if e["key"] == order_id and e["action"] == action
    ]  # fmt: skip


REQUESTED = "bizbus.sales.order.cancellation-requested.v1"
ANSWERED = "bizbus.sales.order.cancelled.v1"


async def of_type(stack: FlowStack, topic: str, order_id: str, ce_type: str) -> list[Record]:
    """The records of `topic` keyed by the CRM order `order_id` with event type `ce_type`."""
    key = order_id.encode()
    return [r for r in await read_topic(stack, topic) if r[0] == key and r[1]["ce_type"] == ce_type]


async def advance_erp_clock(stack: FlowStack, seconds: float) -> None:
    async with httpx.AsyncClient(base_url=stack.urls["erp"], timeout=10) as http:
        (await http.post("/_sandbox/clock", json={"advance_s": seconds})).raise_for_status()


async def test_a_crm_cancel_of_an_unmade_order_cancels_the_erp_order_once(
    stack: FlowStack, crm: CrmUser, erp: ErpUser
) -> None:
    order_id, name = await sent_order(stack, crm, erp)

    await crm.update("Order", order_id, {"Status": "Cancelled"})

    async def erp_cancelled() -> bool:
        order = await erp_order(erp, order_id)
        return order is not None and order["state"] == "cancel"

    await stack.wait_for(erp_cancelled, what=f"ERP order {name} cancelled")

    async def crm_shows_cancelled() -> bool:
        return (await crm.get("Order", order_id)).get("ErpStatus__c") == "Cancelled"

    await stack.wait_for(crm_shows_cancelled, what="the CRM order's ERP status Cancelled")
    # Redeliver the cancellation request: the ERP order is cancelled already, nothing is written.
    [(key, headers, value)] = await of_type(stack, "cmd.erp.sales-order", order_id, REQUESTED)
    await stack.send(
        "cmd.erp.sales-order", (key, value, [(k, v.encode()) for k, v in headers.items()])
    )

    async def answered_twice() -> bool:
        return len(await of_type(stack, "biz.sales.order", order_id, ANSWERED)) >= 2

    await stack.wait_for(answered_twice, what="the redelivered request answered")
    await stack.wait_for_polls("crm.order", "erp.sale-order")
    await stack.wait_caught_up(*HANDLED)
    assert len(await erp_actions(stack, order_id, "action_cancel")) == 1
    crm_order = await crm.get("Order", order_id)
    assert (crm_order["Status"], crm_order["ErpStatus__c"]) == ("Cancelled", "Cancelled")
    assert not crm_order.get("IntegrationNote__c")


async def test_a_crm_cancel_of_a_delivered_order_is_refused_with_the_reason(
    stack: FlowStack, crm: CrmUser, erp: ErpUser
) -> None:
    order_id, name = await sent_order(stack, crm, erp)
    await advance_erp_clock(stack, 6.5 * STEP_S)  # made and delivered, not invoiced yet
    [picking] = await erp.search_read(
        "stock.picking", [("origin", "=", name), ("picking_type_code", "=", "outgoing")], ["state"]
    )
    assert picking["state"] == "done"
    before = await effects(stack.urls["erp"], "sale.order")

    await crm.update("Order", order_id, {"Status": "Cancelled"})

    async def refusal_shown() -> str | None:
        note = (await crm.get("Order", order_id)).get("IntegrationNote__c")
        return note if isinstance(note, str) and note else None

    note = await stack.wait_for(refusal_shown, what="the refusal on the CRM order")
    assert note.startswith(f"Cancellation refused by the ERP: {name} is delivered (WH/OUT/")
    await stack.wait_caught_up(*HANDLED)
    order = await erp_order(erp, order_id)
    assert order is not None and order["state"] == "sale"
    worker = next(e["client"] for e in before if e["key"] == order_id and e["action"] == "create")
    after = (await effects(stack.urls["erp"], "sale.order"))[len(before) :]
    assert [e for e in after if e["client"] == worker] == []  # the ERP untouched by bizbus
    assert await erp_actions(stack, order_id, "action_cancel") == []


async def test_an_erp_cancel_sets_the_crm_order_cancelled(
    stack: FlowStack, crm: CrmUser, erp: ErpUser
) -> None:
    order_id, _ = await sent_order(stack, crm, erp)
    order = await erp_order(erp, order_id)
    assert order is not None

    await erp.execute("sale.order", "action_cancel", [order["id"]])

    async def crm_cancelled() -> bool:
        crm_order = await crm.get("Order", order_id)
        return (crm_order.get("Status"), crm_order.get("ErpStatus__c")) == (
            "Cancelled",
            "Cancelled",
        )

    await stack.wait_for(crm_cancelled, what="the CRM order Cancelled")
    await stack.wait_for_polls("crm.order")
    await stack.wait_caught_up(*HANDLED)
    # Our own Status write is an echo: it asks the ERP for nothing; the admin's cancel is the one.
    assert len(await erp_actions(stack, order_id, "action_cancel")) == 1
    assert await of_type(stack, "cmd.erp.sales-order", order_id, REQUESTED) == []
