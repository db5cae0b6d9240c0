"""A worker killed with SIGKILL in the middle of a stream: its successor loses and doubles nothing.

Counts come from the ERP's effect log and the CRM's records. The worker uses static group
membership (BIZBUS_INSTANCE_ID), as a StatefulSet pod would, so its successor takes the
partitions back without waiting out the session timeout.
"""

import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from bizbus.deploy.demo.actors import CrmUser, ErpUser
from tests.integration.flowstack import FlowStack
from tests.integration.test_flow_orders import effects, known_customer
from tests.integration.test_outages import dead_letters

ORDERS = 60


@pytest.fixture(scope="module")
def stack(flow_stack_factory: Any) -> Iterator[FlowStack]:
    started: FlowStack = flow_stack_factory(
        flows="customers,orders", systems=("crm", "erp"),
        worker_env={"BIZBUS_INSTANCE_ID": "worker-0"},
    )  # fmt: skip
    yield started


async def test_a_killed_worker_s_successor_completes_every_order_exactly_once(
    stack: FlowStack, crm: CrmUser, erp: ErpUser
) -> None:
    account_id = await known_customer(stack, crm, erp)
    orders = [
        await crm.place_order(account_id, [("HL-BS-40", 1, Decimal("2300"))]) for _ in range(ORDERS)
    ]

    async def created() -> list[dict[str, Any]]:
        rows = await effects(stack.urls["erp"], "sale.order")
        return [e for e in rows if e["key"] in orders and e["action"] == "create"]

    async def some_created() -> bool:
        return 0 < len(await created()) < ORDERS

    await stack.wait_for(some_created, what="the ERP to be part-way through", interval_s=0.05)
    assert stack.worker is not None and stack.worker.process is not None
    stack.worker.process.kill()  # SIGKILL: no commit, no leaving the group
    stack.worker.process.wait()
    killed_at, before = time.monotonic(), len(await created())
    stack.start_worker()

    async def resumed() -> bool:
        return len(await created()) > before or before == ORDERS

    await stack.wait_for(resumed, what="the successor to write again", interval_s=0.05)
    print(f"\nkill → next ERP write: {time.monotonic() - killed_at:.1f} s")  # noqa: T201

    async def all_written_back() -> bool:
        rows = await crm.query("SELECT Id, ErpOrderRef__c FROM Order")
        return sum(1 for r in rows if r["Id"] in orders and r["ErpOrderRef__c"]) == ORDERS

    await stack.wait_for(all_written_back, what="every order done", timeout_s=120)
    assert sorted(e["key"] for e in await created()) == sorted(orders)  # none lost, none twice
    assert await dead_letters(stack) == {}
