"""Stock visibility end to end: ERP stock moves and planned production → CRM availability.

One stack (CRM + ERP sandboxes, a worker running `stock`, `catalog` and `fulfilment`; the ERP's
engine slowed so a planned manufacturing order stays planned). The ERP administrator moves stock
through Odoo's own calls (inventory adjustments, reservations, a confirmed sales order); the
CRM's request log and both sandboxes' effect logs count what bizbus wrote, so coalescing, "changed
values only" and the absence of echoes are exact counts, never timings.
"""

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from bizbus.connectors.salesforce import format_soql
from bizbus.deploy.demo.actors import CrmUser, ErpUser
from bizbus.flows.stock_visibility.mapping import AVAILABLE, INCOMING, NEXT_DATE
from tests.integration.flowstack import FlowStack
from tests.integration.test_api_economy import request_count, requests_since

CODE = "HL-CK6150"  # manufactured on order, in stock at WH/Stock
AVAILABILITY = {AVAILABLE, INCOMING, NEXT_DATE}
FEEDS = ("erp.stock-quant", "erp.mrp-production")
TOPICS = ("src.erp.stock-quant", "biz.inventory.stock")


@pytest.fixture(scope="module")
def stack(flow_stack_factory: Any) -> Iterator[FlowStack]:
    started: FlowStack = flow_stack_factory(
        flows="stock,catalog,fulfilment", systems=("crm", "erp"),
        sandbox_env={"BIZBUS_SANDBOX_ERP_STEP_S": "3600"},
    )  # fmt: skip
    yield started


async def effects(url: str, since: int = 0) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        rows: list[dict[str, Any]] = (
            await http.get("/_sandbox/effects", params={"since": since})
        ).json()["effects"]
    return rows


async def mark(stack: FlowStack) -> dict[str, int]:
    """Where each log ends now: CRM requests, CRM and ERP effects."""
    return {
        "requests": await request_count(stack.urls["crm"]),
        **{name: max([e["seq"] for e in await effects(stack.urls[name])], default=0)
           for name in ("crm", "erp")},
    }  # fmt: skip


async def ours_since(stack: FlowStack, since: dict[str, int]) -> dict[str, Any]:
    """What bizbus did since `since`: Collections write calls, and its effects per system."""
    calls = await requests_since(stack.urls["crm"], since["requests"])
    return {
        "writes": [c for c in calls
                   if c["method"] == "PATCH" and c["path"].endswith("/composite/sobjects")],
        **{name: [e for e in await effects(stack.urls[name], since[name])
                  if e["client"] == "bizbus"] for name in ("crm", "erp")},
    }  # fmt: skip


async def caught_up(stack: FlowStack, *more: str) -> None:
    """Two more polls of the ERP feeds (any change is read), then every record handled.

    `more`: further topics to wait for (only topics holding records: an empty one has no
    committed offset to compare).
    """
    await stack.wait_for_polls(*FEEDS)
    await stack.wait_caught_up(*TOPICS, *more)


async def crm_availability(crm: CrmUser) -> dict[str, Any]:
    rows = await crm.query(format_soql(
        "SELECT Id, Available_Quantity__c, Incoming_Quantity__c, Next_Availability_Date__c "
        "FROM Product2 WHERE ProductCode = {c}", c=CODE))  # fmt: skip
    assert len(rows) == 1, rows
    return rows[0]


async def erp_product(erp: ErpUser) -> dict[str, Any]:
    rows = await erp.search_read("product.product", [("default_code", "=", CODE)],
                                 ["id", "free_qty", "incoming_qty"])  # fmt: skip
    return rows[0]


async def wait_shown(stack: FlowStack, crm: CrmUser, **wanted: Any) -> dict[str, Any]:
    async def shown() -> dict[str, Any] | None:
        row = await crm_availability(crm)
        return row if all(row.get(name) == value for name, value in wanted.items()) else None

    return await stack.wait_for(shown, what=f"{CODE} availability {wanted} in the CRM")


async def adjust(erp: ErpUser, counted: dict[int, float]) -> None:
    """Count quants (one call each), then apply every count in one call (one transaction)."""
    for quant, quantity in counted.items():
        await erp.execute("stock.quant", "write", [quant], {"inventory_quantity": quantity})
    await erp.execute("stock.quant", "action_apply_inventory", list(counted))


def assert_availability_only(writes: list[dict[str, Any]]) -> None:
    for effect in writes:
        assert effect["object"] == "Product2", effect
        fields = set(effect["detail"]["fields"]) - {"attributes", "id", "Id"}
        assert fields and fields <= AVAILABILITY, effect


async def test_stock_moves_reach_the_crm_in_fewer_writes_than_moves_and_never_echo(
    stack: FlowStack, crm: CrmUser, erp: ErpUser
) -> None:
    product = await erp_product(erp)
    await wait_shown(stack, crm, **{AVAILABLE: product["free_qty"]})  # the start-up sync
    await caught_up(stack)
    [stock] = await erp.search_read("stock.location", [("complete_name", "=", "WH/Stock")], ["id"])
    shelf = await erp.execute("stock.location", "create", {
        "name": "Shelf 2", "complete_name": "WH/Stock/Shelf 2", "usage": "internal"})  # fmt: skip
    at_stock = [("product_id", "=", product["id"]), ("location_id", "=", stock["id"])]
    [main] = await erp.search_read("stock.quant", at_stock, ["id"])
    second = await erp.execute("stock.quant", "create",
                               {"product_id": product["id"], "location_id": shelf})  # fmt: skip
    await caught_up(stack)
    since = await mark(stack)

    # Two moves in one transaction, then three one by one: five changes of one product.
    await adjust(erp, {main["id"]: 30.0, second: 12.0})
    await wait_shown(stack, crm, **{AVAILABLE: 42.0})
    await caught_up(stack)
    burst = await ours_since(stack, since)
    assert len(burst["writes"]) == 1 and len(burst["crm"]) == 1, burst
    await erp.execute("stock.quant", "write", [main["id"]], {"reserved_quantity": 5.0})
    await adjust(erp, {second: 8.0})
    await adjust(erp, {main["id"]: 35.0})
    await wait_shown(stack, crm, **{AVAILABLE: 38.0})
    await caught_up(stack)
    done = await ours_since(stack, since)
    assert 2 <= len(done["writes"]) < 5, done["writes"]  # fewer writes than the 5 moves
    assert len(done["crm"]) == len(done["writes"])  # one product record a write
    assert_availability_only(done["crm"])
    assert done["erp"] == []  # no echo: the catalog took none of it back to the ERP

    # A count that changes nothing writes nothing.
    unchanged = await mark(stack)
    await adjust(erp, {main["id"]: 35.0})
    await caught_up(stack)
    idle = await ours_since(stack, unchanged)
    assert idle["writes"] == [] and idle["crm"] == [] and idle["erp"] == []
    assert (await crm_availability(crm))[AVAILABLE] == 38.0


async def test_planned_production_shows_incoming_and_the_next_availability_date(
    stack: FlowStack, crm: CrmUser, erp: ErpUser
) -> None:
    product = await erp_product(erp)
    [partner] = await erp.search_read("res.partner", [("ref", "=", "C10003")], ["id"])
    order = await erp.execute("sale.order", "create", {
        "partner_id": partner["id"],
        "order_line": [(0, 0, {"product_id": product["id"], "product_uom_qty": 4})],
    })  # fmt: skip
    since = await mark(stack)
    await erp.execute("sale.order", "action_confirm", [order])
    [mo] = await erp.search_read("mrp.production", [("product_id", "=", product["id"]),
                                                    ("state", "=", "confirmed")],
                                 ["date_finished", "product_qty"])  # fmt: skip
    finish = datetime.fromisoformat(mo["date_finished"]).replace(tzinfo=UTC)
    local = finish.astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat()
    shown = await wait_shown(stack, crm, **{INCOMING: 4.0 + product["incoming_qty"],
                                            NEXT_DATE: local})  # fmt: skip
    await caught_up(stack, "src.erp.mrp-production")
    assert shown[AVAILABLE] == (await erp_product(erp))["free_qty"]
    done = await ours_since(stack, since)
    assert len(done["writes"]) == 1 and len(done["crm"]) == 1, done
    assert_availability_only(done["crm"])
    assert done["erp"] == []
