"""`bizbus reconcile` finds what the change feeds never carried and heals it through the flows.

One stack (CRM + ERP sandboxes, a worker running customers, orders, fulfilment and catalog on
a short reconciliation interval, reporting only). Changes "behind bizbus's back" are made with
the sandbox CRM's clock set back a year, so their SystemModstamp lies behind every poll cursor
(the seed's records are a month old) and no feed ever reads them, as after a restore from a
backup or on a skewed clock; ERP partners are not watched at all. Effects are counted from
the sandboxes' effect logs.
"""

import asyncio
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest

from bizbus.deploy.demo.actors import CrmUser, ErpUser
from tests.integration.flowstack import FlowStack
from tests.integration.test_flow_catalog import CODE, effects, marks, settle
from tests.integration.test_flow_orders import erp_order, known_customer, wait_completed
from tests.integration.test_flow_travel import bizbus


@pytest.fixture(scope="module")
def stack(flow_stack_factory: Any) -> Iterator[FlowStack]:
    started: FlowStack = flow_stack_factory(
        flows="customers,orders,fulfilment,catalog",
        systems=("crm", "erp"),
        worker_env={"BIZBUS_RECONCILE_INTERVAL_S": "2"},
    )
    yield started


async def crm_clock(stack: FlowStack, advance_s: float) -> None:
    async with httpx.AsyncClient(base_url=stack.urls["crm"], timeout=10) as http:
        answer = await http.post("/_sandbox/clock", json={"advance_s": advance_s})
        answer.raise_for_status()


BACK_S = 400 * 86400  # before every record of the seed


class BehindTheBack:
    """Writes made with the CRM's clock a year back: no change feed reads them."""

    def __init__(self, stack: FlowStack) -> None:
        self.stack = stack

    async def __aenter__(self) -> None:
        await crm_clock(self.stack, -BACK_S)

    async def __aexit__(self, *_: object) -> None:
        await crm_clock(self.stack, BACK_S)


async def reconciled(stack: FlowStack, *args: str) -> tuple[int, dict[str, Any]]:
    """Run `bizbus reconcile ARGS --json`; return its exit status and its report."""
    result = await asyncio.to_thread(bizbus, stack, "reconcile", *args, "--json")
    assert result.returncode in (0, 1), f"reconcile failed ({result.returncode}): {result.stderr}"
    return result.returncode, orjson.loads(result.stdout)


def drifts_of(report: dict[str, Any], kind: str, key: str) -> list[dict[str, Any]]:
    return [drift for drift in report["kinds"][kind]["drifts"] if drift["key"] == key]


@pytest.fixture
async def synced(stack: FlowStack, crm: CrmUser, erp: ErpUser) -> AsyncIterator[Decimal]:
    """The catalog's first sync is done: the CRM has CODE at the ERP's price."""
    [row] = await erp.search_read("product.template", [("default_code", "=", CODE)], ["list_price"])
    price = Decimal(str(row["list_price"]))

    async def at_erp_price() -> bool:
        try:
            entry = await crm.price_entry(CODE)
        except LookupError:
            return False
        return Decimal(str(entry["UnitPrice"])) == price

    await stack.wait_for(at_erp_price, what=f"{CODE} at its ERP price in the CRM", timeout_s=90)
    await settle(stack)
    yield price


async def test_a_crm_price_edited_behind_bizbus_is_found_and_healed_with_one_write(
    stack: FlowStack, crm: CrmUser, synced: Decimal
) -> None:
    entry = await crm.price_entry(CODE)
    async with BehindTheBack(stack):
        await crm.update("PricebookEntry", entry["Id"], {"UnitPrice": float(synced - 1000)})
    await stack.wait_for_polls("crm.price-book-entry")  # the feed had its chances
    assert Decimal(str((await crm.price_entry(CODE))["UnitPrice"])) == synced - 1000

    status, report = await reconciled(stack, "prices")
    [drift] = drifts_of(report, "prices", CODE)
    assert status == 1
    assert drift["issue"] == "price differs"
    assert drift["detail"] == f"ERP {synced:.2f}, CRM {synced - 1000:.2f}"
    assert drift["heal"] == "bizbus.pricing.price-book-entry.upsert-requested.v1"

    since = await marks(stack)
    status, report = await reconciled(stack, "prices", "--heal")
    assert report["healed"] == 1 and status == 0

    async def restored() -> bool:
        return Decimal(str((await crm.price_entry(CODE))["UnitPrice"])) == synced

    await stack.wait_for(restored, what=f"{CODE} back at the ERP's price")
    await settle(stack)
    ours = [e for e in await effects(stack.urls["crm"], since["crm"]) if e["client"] == "bizbus"]
    assert [e["object"] for e in ours] == ["PricebookEntry"]  # one write, no echo, no loop
    status, report = await reconciled(stack, "prices")
    assert drifts_of(report, "prices", CODE) == [] and status == 0


async def test_an_order_the_erp_never_got_is_placed_and_a_lost_status_reasserted(
    stack: FlowStack, crm: CrmUser, erp: ErpUser, synced: Decimal
) -> None:
    account_id = await known_customer(stack, crm, erp)
    async with BehindTheBack(stack):
        order_id = await crm.place_order(account_id, [(CODE, 1, synced)])
    await stack.wait_for_polls("crm.order")
    assert await erp_order(erp, order_id) is None

    _, report = await reconciled(stack, "orders")
    [drift] = drifts_of(report, "orders", order_id)
    assert (drift["issue"], drift["heal"]) == ("not in the ERP", "bizbus.sales.order.placed.v1")

    _, report = await reconciled(stack, "orders", "--heal")
    assert report["healed"] >= 1
    await wait_completed(stack, crm, erp, order_id)
    assert len(await erp.search_read("sale.order", [("client_order_ref", "=", order_id)],
                                     ["id"])) == 1  # fmt: skip

    async def invoiced() -> bool:
        return (await crm.get("Order", order_id)).get("ErpStatus__c") == "Invoiced"

    await stack.wait_for(invoiced, what="the healed order to reach Invoiced", timeout_s=120)
    async with BehindTheBack(stack):
        await crm.update("Order", order_id, {"ErpStatus__c": None})
    _, report = await reconciled(stack, "orders")
    [drift] = drifts_of(report, "orders", order_id)
    assert drift["issue"] == "status behind"
    assert drift["detail"].endswith("ERP Invoiced, CRM (none)")

    await reconciled(stack, "orders", "--heal")
    await stack.wait_for(invoiced, what="the lost status reasserted")
    _, report = await reconciled(stack, "orders")
    assert drifts_of(report, "orders", order_id) == []


async def drift_gauge(stack: FlowStack, kind: str) -> float | None:
    async with stack.web() as http:
        text = (await http.get("/metrics")).text
    prefix = f'bizbus_reconcile_drift{{kind="{kind}"}} '
    rows = [row for row in text.splitlines() if row.startswith(prefix)]
    return float(rows[0].removeprefix(prefix)) if rows else None


async def test_an_erp_partner_edited_by_hand_is_named_exported_and_healed_from_the_crm(
    stack: FlowStack, crm: CrmUser, erp: ErpUser
) -> None:
    account_id = await known_customer(stack, crm, erp)
    account = await crm.get("Account", account_id)
    ref = account["ErpCustomerRef__c"] or account["AccountNumber"]
    [partner] = await erp.search_read("res.partner", [("ref", "=", ref)], ["id", "name"])
    assert partner["name"] == account["Name"]

    async def scheduled_agrees() -> bool:
        _, report = await reconciled(stack, "customers")
        return await drift_gauge(stack, "customers") == len(report["kinds"]["customers"]["drifts"])

    baseline = await drift_gauge(stack, "customers") or 0.0
    await erp.execute("res.partner", "write", [partner["id"]], {"name": "Renamed By Hand"})
    _, report = await reconciled(stack, "customers")
    [drift] = drifts_of(report, "customers", account_id)
    assert drift["issue"] == "fields differ"
    assert drift["detail"] == f"ref {ref}: fields differ: name"
    assert "Renamed" not in orjson.dumps(report).decode()  # fields named, values never

    async def exported() -> bool:
        return (await drift_gauge(stack, "customers") or 0.0) > baseline

    await stack.wait_for(exported, what="the worker's scheduled run to export the drift")
    await stack.wait_for(scheduled_agrees, what="the worker's gauge to match the CLI's count")

    _, report = await reconciled(stack, "customers", "--heal")
    assert report["healed"] >= 1

    async def renamed_back() -> bool:
        [row] = await erp.search_read("res.partner", [("ref", "=", ref)], ["name"])
        return bool(row["name"] == account["Name"])

    await stack.wait_for(renamed_back, what="the ERP partner healed from the CRM account")
    _, report = await reconciled(stack, "customers")
    assert drifts_of(report, "customers", account_id) == []


async def test_a_kind_no_enabled_flow_reconciles_is_refused_with_the_reason(
    stack: FlowStack,
) -> None:
    result = await asyncio.to_thread(bizbus, stack, "reconcile", "stock")
    assert result.returncode == 2
    assert "unknown kind(s) ['stock']" in result.stderr
