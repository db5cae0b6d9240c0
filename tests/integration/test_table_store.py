"""Tables in RocksDB (`BIZBUS_TABLE_STORE=rocksdb`): a restarted worker keeps them, unreplayed.

The worker runs customers + orders. An order waiting for a product the ERP lacks is parked in
the orders flow's table; across a clean stop and a SIGKILL the restarted worker still shows it,
and faust's recovery (its "Reading Starts At" table in the worker log) starts every changelog
partition of the stack at the offset its store already holds, not at the beginning.
"""

import re
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from bizbus.deploy.demo.actors import CrmUser, ErpUser
from tests.integration.flowstack import FlowStack
from tests.integration.test_flow_orders import (
    ensure_crm_product,
    erp_order,
    known_customer,
    parked_orders,
    wait_completed,
)

# faust's recovery log tables: "| topic | partition | offset |" rows, `〃` repeating the topic.
ROW = re.compile(r"^\s*[│|]\s*(\S+)\s*[│|]\s*(\d+)\s*[│|]\s*(-?\d+)\s*[│|]\s*$")


@pytest.fixture(scope="module")
def stack(flow_stack_factory: Any) -> Iterator[FlowStack]:
    started: FlowStack = flow_stack_factory(
        flows="customers,orders", systems=("crm", "erp"),
        worker_env={"BIZBUS_TABLE_STORE": "rocksdb", "BIZBUS_INSTANCE_ID": "worker-0"},
    )  # fmt: skip
    yield started


def recovery_tables(log: str, title: str) -> dict[tuple[str, int], int]:
    """Return the last `title` table faust logged in `log`: (topic, partition) → offset."""
    found: dict[tuple[str, int], int] = {}
    for block in log.split(title)[-1:] if title in log else []:
        topic = ""
        for line in block.splitlines()[1:]:
            match = ROW.match(line)
            if match is None:
                if found:
                    break
                continue
            topic = topic if match[1] == "〃" else match[1]
            found[(topic, int(match[2]))] = int(match[3])
    return found


def worker_log_since(stack: FlowStack, offset: int) -> str:
    return stack.log_path.read_bytes()[offset:].decode(errors="replace")


async def test_a_restarted_worker_keeps_its_tables_without_replaying_their_changelogs(
    stack: FlowStack, crm: CrmUser, erp: ErpUser
) -> None:
    code = f"HL-NEW-{uuid.uuid4().hex[:6].upper()}"
    await ensure_crm_product(crm, code, Decimal("9900"))
    account_id = await known_customer(stack, crm, erp)
    order_id = await crm.place_order(account_id, [(code, 2, Decimal("9500"))])

    async def parked() -> Any:
        return (await parked_orders(stack)).get(order_id)

    await stack.wait_for(parked, what=f"order {order_id} parked")
    stores = {p.name for p in (stack.run_dir / "faust").rglob("*.db") if p.is_dir()}
    assert {"parked-sales-orders-0.db", "xref-0.db"} <= stores  # a table and a global table

    for restart in ("stop", "kill"):
        assert stack.worker is not None
        if restart == "stop":
            assert stack.stop_worker() == 0
        else:
            stack.worker.kill()  # SIGKILL: RocksDB keeps what its write-ahead log holds
        offset = stack.log_path.stat().st_size
        stack.start_worker()
        log = worker_log_since(stack, offset)
        # Both tables count in faust's convention: the offset of the last record (-1: none).
        last = recovery_tables(log, "Highwater - Active")
        starts = recovery_tables(log, "Reading Starts At - Active")
        assert starts.keys() == last.keys()
        held = {tp for tp, offset in last.items() if offset >= 0}
        assert {tp[0] for tp in held} >= {
            f"{stack.app_id}-parked-sales-orders-changelog",
            f"{stack.app_id}-xref-changelog",
        }
        if restart == "stop":  # every record is in the store: nothing to read again
            assert {tp: starts[tp] for tp in held} == {tp: last[tp] for tp in held}
        else:  # a crash may lose the offset of a last write in flight, never the whole store
            assert all(starts[tp] >= 0 for tp in held), (starts, last)
        entry = await stack.wait_for(parked, what=f"order {order_id} parked after a {restart}")
        assert entry["missing"] == [f"product:{code}"]

    await erp.execute(
        "product.product", "create",
        {"name": f"{code} 新型号", "default_code": code, "list_price": 9900.0, "type": "product"},
    )  # fmt: skip
    await wait_completed(stack, crm, erp, order_id)
    assert await erp_order(erp, order_id) is not None
