"""Order changes end to end: a CRM quantity change updates the ERP order line once, or is refused.

One stack (CRM + ERP sandboxes, a worker running `customers,orders,fulfilment`). The ERP's
fulfilment steps are an hour apart, so a confirmed order waits unmade until the test moves the
ERP clock on. People act through each system's API; ERP writes are counted in its effects log.
"""

import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import orjson
import pytest

from bizbus.connectors.salesforce import format_soql
from bizbus.deploy.demo.actors import CrmUser, ErpUser
from bizbus.deploy.sandbox.company import product
from bizbus.schemas import decode_record
from tests.integration.flowstack import FlowStack
from tests.integration.test_flow_cancellations import advance_erp_clock, of_type
from tests.integration.test_flow_orders import (
    effects,
    ensure_crm_product,
    erp_order,
    known_customer,
    read_topic,
    wait_completed,
)

MODEL = "HL-SM-7.5"
STEP_S = 3600
HANDLED = ("src.crm.order", "cmd.erp.sales-order", "cmd.crm.order", "src.erp.sale-order")
REQUESTED = "bizbus.sales.order.change-requested.v1"
ANSWERED = "bizbus.sales.order.changed.v1"
PLACED = "bizbus.sales.sales-order.requested.v1"


@pytest.fixture(scope="module")
def stack(flow_stack_factory: Any) -> Iterator[FlowStack]:
    started: FlowStack = flow_stack_factory(
        flows="customers,orders,fulfilment",
        systems=("crm", "erp"),
        sandbox_env={"BIZBUS_SANDBOX_ERP_STEP_S": str(STEP_S)},
    )
    yield started


async def sent_order(stack: FlowStack, crm: CrmUser, erp: ErpUser) -> tuple[str, str, int]:
    """A CRM order of 2 activated and confirmed in the ERP: its id, ERP name, ERP line id."""
    await ensure_crm_product(crm, MODEL, product(MODEL).list_price)
    account_id = await known_customer(stack, crm, erp)
    order_id = await crm.place_order(account_id, [(MODEL, 2, Decimal("6500"))])
    name = await wait_completed(stack, crm, erp, order_id)
    order = await erp_order(erp, order_id)
    assert order is not None
    [line_id] = order["order_line"]
    return order_id, name, int(line_id)


async def change_quantity(crm: CrmUser, order_id: str, quantity: int) -> None:
    soql = format_soql("SELECT Id FROM OrderItem WHERE OrderId = {o}", o=order_id)
    [item] = await crm.query(soql)
    await crm.update("OrderItem", item["Id"], {"Quantity": quantity})


def outcome(value: bytes) -> str:
    data = orjson.loads(value)
    return str(data.get("data", data)["outcome"])


async def line_writes(stack: FlowStack, line_id: int) -> list[dict[str, Any]]:
    rows = await effects(stack.urls["erp"], "sale.order.line")
    return [e for e in rows if e["record_id"] == str(line_id) and e["action"] == "write"]


async def test_a_quantity_change_of_an_unmade_order_updates_the_erp_line_once(
    stack: FlowStack, crm: CrmUser, erp: ErpUser
) -> None:
    order_id, name, line_id = await sent_order(stack, crm, erp)
    before = await line_writes(stack, line_id)

    await change_quantity(crm, order_id, 3)

    async def erp_has_three() -> bool:
        [line] = await erp.search_read("sale.order.line", [("id", "=", line_id)],
                                       ["product_uom_qty"])  # fmt: skip
        return float(line["product_uom_qty"]) == 3.0

    await stack.wait_for(erp_has_three, what=f"ERP order {name} line quantity 3")
    # Redeliver the change request: the ERP line has the quantity already, nothing is written.
    [(key, headers, value)] = await of_type(stack, "cmd.erp.sales-order", order_id, REQUESTED)
    await stack.send(
        "cmd.erp.sales-order", (key, value, [(k, v.encode()) for k, v in headers.items()])
    )

    async def answered_twice() -> bool:
        return len(await of_type(stack, "biz.sales.order", order_id, ANSWERED)) >= 2

    await stack.wait_for(answered_twice, what="the redelivered change answered")
    await stack.wait_for_polls("crm.order", "erp.sale-order")
    await stack.wait_caught_up(*HANDLED)
    after = (await line_writes(stack, line_id))[len(before) :]
    assert [e["detail"]["vals"] for e in after] == [{"product_uom_qty": 3}]  # one write
    answers = await of_type(stack, "biz.sales.order", order_id, ANSWERED)
    assert [outcome(value) for _, _, value in answers] == ["changed", "unchanged"]
    assert len(await of_type(stack, "cmd.erp.sales-order", order_id, REQUESTED)) == 2
    assert not (await crm.get("Order", order_id)).get("IntegrationNote__c")


async def test_a_change_of_a_shipped_order_is_refused_with_the_reason(
    stack: FlowStack, crm: CrmUser, erp: ErpUser
) -> None:
    order_id, name, line_id = await sent_order(stack, crm, erp)
    await advance_erp_clock(stack, 6.5 * STEP_S)  # made and delivered, not invoiced yet
    [picking] = await erp.search_read(
        "stock.picking", [("origin", "=", name), ("picking_type_code", "=", "outgoing")], ["state"]
    )
    assert picking["state"] == "done"
    before = await effects(stack.urls["erp"], "sale.order")
    before_lines = await effects(stack.urls["erp"], "sale.order.line")

    await change_quantity(crm, order_id, 5)

    async def refusal_shown() -> str | None:
        note = (await crm.get("Order", order_id)).get("IntegrationNote__c")
        return note if isinstance(note, str) and note else None

    note = await stack.wait_for(refusal_shown, what="the refusal on the CRM order")
    assert note.startswith(f"Change refused by the ERP: {name} is delivered (WH/OUT/")
    await stack.wait_caught_up(*HANDLED)
    [line] = await erp.search_read("sale.order.line", [("id", "=", line_id)], ["product_uom_qty"])
    assert float(line["product_uom_qty"]) == 2.0
    worker = next(e["client"] for e in before if e["key"] == order_id and e["action"] == "create")
    after = (await effects(stack.urls["erp"], "sale.order"))[len(before) :]
    after_lines = (await effects(stack.urls["erp"], "sale.order.line"))[len(before_lines) :]
    assert [e for e in [*after, *after_lines] if e["client"] == worker] == []  # ERP untouched


async def test_a_placement_that_meets_its_confirmed_order_changed_is_applied_as_a_change(
    stack: FlowStack, crm: CrmUser, erp: ErpUser
) -> None:
    # The race: the CRM order is edited after the ERP confirmed it, before the ERP's number is
    # back on it, so the orders flow places it again with the new lines (a new event).
    order_id, _, line_id = await sent_order(stack, crm, erp)
    before = await line_writes(stack, line_id)
    [(_, headers, value)] = await of_type(stack, "cmd.erp.sales-order", order_id, PLACED)
    # A new event: its salesperson's personal fields are sealed for its own id, so it is made
    # and sealed again rather than edited in place.
    placed = decode_record(value, [(k, v.encode()) for k, v in headers.items()], keys=stack.keys)
    lines = (placed.data.lines[0].model_copy(update={"quantity": Decimal(4)}),
             *placed.data.lines[1:])  # fmt: skip
    fresh = placed.model_copy(
        update={"id": str(uuid.uuid4()), "data": placed.data.model_copy(update={"lines": lines})}
    )
    await stack.publish("cmd.erp.sales-order", fresh, sealed=True)

    async def answered() -> list[Any]:
        return await of_type(stack, "biz.sales.order", order_id, ANSWERED)

    [(_, _, answer)] = await stack.wait_for(answered, what="the placement answered as a change")
    assert outcome(answer) == "changed"
    await stack.wait_caught_up(*HANDLED)
    [line] = await erp.search_read("sale.order.line", [("id", "=", line_id)], ["product_uom_qty"])
    assert float(line["product_uom_qty"]) == 4.0
    after = (await line_writes(stack, line_id))[len(before) :]
    assert [e["detail"]["vals"] for e in after] == [{"product_uom_qty": 4}]  # one write
    dead = await read_topic(stack, "cmd.erp.sales-order.dlq")
    assert [r for r in dead if r[0] == order_id.encode()] == []
    assert not (await crm.get("Order", order_id)).get("IntegrationNote__c")
