"""Three workers in one group behave like one: every order exactly once, every feed polled once.

Counts come from the ERP's effect log, the CRM's records and each worker's readiness view (its
poll passes), never from the workers' word on what they did.
"""

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from bizbus.deploy.demo.actors import CrmUser, ErpUser
from bizbus.flows.runtime.readiness import READY_PATH
from bizbus.schemas import ProductModelChangedV1, make_event
from tests.integration.flowstack import WEB_TOKEN, FlowStack
from tests.integration.test_flow_orders import (
    effects,
    ensure_crm_product,
    known_customer,
    wait_completed,
)
from tests.integration.test_outages import dead_letters

ORDERS = 1000
PLACERS = 8  # salespeople entering orders at once


@pytest.fixture(scope="module")
def stack(flow_stack_factory: Any) -> Iterator[FlowStack]:
    started: FlowStack = flow_stack_factory(flows="customers,orders", systems=("crm", "erp"))
    started.add_worker(2)
    started.add_worker(3)
    yield started


async def poll_passes(port: int) -> dict[str, int]:
    headers = {"Authorization": f"Bearer {WEB_TOKEN}"}  # readiness details need the token
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=10
    ) as http:
        passes: dict[str, int] = (await http.get(READY_PATH)).json()["poll_passes"]
    return passes


async def test_three_workers_complete_a_thousand_orders_exactly_once(
    stack: FlowStack, crm: CrmUser, erp: ErpUser
) -> None:
    account_id = await known_customer(stack, crm, erp)
    lines = [("HL-BS-40", 1, Decimal("2300"))]
    orders: list[str] = []

    async def place(count: int) -> None:
        for _ in range(count):
            orders.append(await crm.place_order(account_id, lines))

    await asyncio.gather(*(place(ORDERS // PLACERS) for _ in range(PLACERS)))
    wanted = set(orders)

    async def all_written_back() -> bool:
        rows = await crm.query("SELECT Id, ErpOrderRef__c FROM Order")
        return sum(1 for r in rows if r["Id"] in wanted and r["ErpOrderRef__c"]) == ORDERS

    await stack.wait_for(all_written_back, what="every order done", timeout_s=600, interval_s=2)
    creates = [
        e["key"] for e in await effects(stack.urls["erp"], "sale.order")
        if e["key"] in wanted and e["action"] == "create"
    ]  # fmt: skip
    assert sorted(creates) == sorted(orders)  # none lost, none twice
    assert await dead_letters(stack) == {}

    # Each feed is polled by one worker of the group at a time, not by each.
    ports = [stack.web_port, *(port for _, port in stack.extra_workers)]
    before = [await poll_passes(port) for port in ports]

    async def polled_thrice() -> bool:
        now = [await poll_passes(port) for port in ports]
        return all(
            sum(n.get(feed, 0) - b.get(feed, 0) for n, b in zip(now, before, strict=True)) >= 3
            for feed in ("crm.order", "crm.account")
        )

    await stack.wait_for(polled_thrice, what="three more polls of each CRM feed")
    after = [await poll_passes(port) for port in ports]
    for feed in ("crm.order", "crm.account"):
        polling = [n for n, b in zip(after, before, strict=True) if n.get(feed, 0) > b.get(feed, 0)]
        assert len(polling) == 1, f"{feed} was polled by {len(polling)} workers at once"


async def test_a_parked_order_wakes_on_whichever_worker_holds_it(
    stack: FlowStack, crm: CrmUser, erp: ErpUser
) -> None:
    code = f"HL-NEW-{uuid.uuid4().hex[:6].upper()}"
    await ensure_crm_product(crm, code, Decimal("9900"))
    account_id = await known_customer(stack, crm, erp)
    order = await crm.place_order(account_id, [(code, 1, Decimal("9500"))])
    logs = [stack.log_path, *(worker.log_path for worker, _ in stack.extra_workers)]

    async def parked() -> bool:
        return any(f"CRM order {order} parked" in path.read_text() for path in logs)

    await stack.wait_for(parked, what=f"order {order} parked (its product is missing)")
    [product_id] = [await erp.execute(
        "product.product", "create",
        {"name": f"{code} 新型号", "default_code": code, "list_price": 9900.0, "type": "product"},
    )]  # fmt: skip
    # The catalog flow's announcement (not run here): its partition's owner need not be the
    # worker whose table holds the parked order.
    announced = ProductModelChangedV1(
        model_code=code, erp_product_id=int(product_id), name=f"{code} 新型号", revision="A",
        uom="台", changed_at=datetime.now(UTC),
    )  # fmt: skip
    event = make_event(announced, source="bizbus://tests", correlationid=code, origin="erp")
    await stack.publish("biz.catalog.product-model", event)

    async def woken() -> bool:
        line = f"retrying parked CRM order {order}: product:{code} arrived"
        return any(line in path.read_text() for path in logs)

    await stack.wait_for(woken, what="the worker holding the order to wake it")
    await wait_completed(stack, crm, erp, order)
