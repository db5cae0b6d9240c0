"""R1: workers SIGKILLed at random moments while orders flow from the CRM into the ERP.

Targets: lost 0 and duplicate ERP orders 0 (the ERP's effects log), CRM status regressions 0
(the CRM's effects log), dead letters 0 and crashes 0. Figures: events re-emitted after a
redelivery (surplus records per key on the order topics), kill → member ready again, and the
slowest order (CRM activation → ERP create, both from the systems' logs), which is what a
killed member's partitions waited.
"""

import asyncio
import random
import statistics
import time
from dataclasses import dataclass
from datetime import datetime

from bizbus.deploy.chaos import verify
from bizbus.deploy.chaos.orders import OrderDesk, settle_in_erp
from bizbus.deploy.chaos.report import ScenarioResult
from bizbus.deploy.chaos.stack import ChaosStack, Progress
from bizbus.schemas import OrderPlacedV1, SalesOrderRequestedV1

__all__ = ["KillPlan", "run_worker_kill"]

REDELIVERY_TOPICS = ("biz.sales.order", "cmd.erp.sales-order")
# Event types an order gets once on these topics (its status changes share biz.sales.order).
ONCE_PER_ORDER = {OrderPlacedV1.EVENT_TYPE.encode(), SalesOrderRequestedV1.EVENT_TYPE.encode()}


@dataclass(frozen=True)
class KillPlan:
    """How many orders flow and how many SIGKILLs hit the group meanwhile."""

    orders: int
    kills: int
    seed: int


async def run_worker_kill(stack: ChaosStack, plan: KillPlan, progress: Progress) -> ScenarioResult:
    """Place `plan.orders`, SIGKILL a random member `plan.kills` times, then count."""
    result = ScenarioResult("R1", "worker SIGKILL while orders flow", n=plan.orders)
    rng = random.Random(plan.seed)  # noqa: S311 - choosing moments, not secrets
    erp, crm = stack.urls["erp"], stack.urls["crm"]
    dead_before = await verify.dead_letters(stack.kafka, stack.prefix)
    desk = await OrderDesk(crm, erp).open(stack.wait_for)
    try:
        placing = asyncio.create_task(desk.place(plan.orders))
        ready_s: list[float] = []
        for number, share in enumerate(sorted(rng.uniform(0.1, 0.8) for _ in range(plan.kills))):
            await stack.wait_for(desk.placed_share(share, plan.orders),
                                 what=f"{share:.0%} of the orders placed",
                                 timeout_s=120 + plan.orders)  # fmt: skip
            victim = rng.choice(stack.running())
            progress(f"R1: SIGKILL {number + 1}/{plan.kills}: worker {victim.number} "
                     f"at {share:.0%} of {plan.orders} orders placed")  # fmt: skip
            killed_at = time.monotonic()
            stack.kill(victim)
            await stack.restart(victim)
            ready_s.append(time.monotonic() - killed_at)
        orders = await placing
        progress(f"R1: all {plan.orders} orders placed; waiting for the ERP")

        counts = await settle_in_erp(stack, orders, label="R1", progress=progress,
                                     timeout_s=120 + plan.orders / 5)  # fmt: skip
        result.lost, result.duplicated = counts.lost, counts.duplicated
        result.zeros["status regressions"] = await verify.status_regressions(crm, orders)
        records = await verify.read_records(
            stack.kafka, [stack.topic(t) for t in REDELIVERY_TOPICS]
        )
        wanted = set(orders)
        ours = [
            r
            for r in records
            if (r.key or b"").decode().rsplit(":", 1)[-1] in wanted
            and dict(r.headers).get("ce_type") in ONCE_PER_ORDER
        ]
        result.figures["re-emitted after redelivery"] = verify.keyed_surplus(ours)
        result.figures["kill → member ready s max"] = round(max(ready_s, default=0.0), 1)
        waits = await order_waits(crm, erp, wanted)
        if waits:
            result.figures["order wait s p50"] = round(statistics.median(waits), 1)
            result.figures["order wait s max"] = round(max(waits), 1)
    finally:
        await desk.close(placing)
    result.dead_lettered = await verify.dead_letters(stack.kafka, stack.prefix) - dead_before
    result.crashes = stack.count_crashes()
    result.note = f"{plan.kills} SIGKILLs over {len(stack.members)} workers"
    return result


async def order_waits(crm: str, erp: str, orders: set[str]) -> list[float]:
    """Return, per order, seconds from its CRM activation to its ERP create (systems' clocks)."""
    activated = verify.activation_times(await verify.effects(crm, "Order"))
    return [
        (datetime.fromisoformat(row["at"]) - activated[row["key"]]).total_seconds()
        for row in await verify.effects(erp, "sale.order")
        if row["action"] == "create" and row["key"] in orders and row["key"] in activated
    ]
