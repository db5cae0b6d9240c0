"""R4: the group scaled 1 → 3 → 1 workers while orders flow, then back to its size.

Workers leave by a clean stop (SIGTERM) and join as new or returning static members; every
change moves partitions mid-stream. Targets: lost 0 and duplicate ERP orders 0 (the ERP's
effects log), CRM status regressions 0, dead letters 0, crashes 0. Figure: the slowest order
(CRM activation → ERP create), which is what a move of its partition cost it.
"""

import asyncio
import statistics
from dataclasses import dataclass

from bizbus.deploy.chaos import verify
from bizbus.deploy.chaos.orders import OrderDesk, settle_in_erp
from bizbus.deploy.chaos.report import ScenarioResult
from bizbus.deploy.chaos.stack import ChaosStack, Progress
from bizbus.deploy.chaos.worker_kill import order_waits

__all__ = ["RebalancePlan", "run_rebalance"]

PEAK = 3


@dataclass(frozen=True)
class RebalancePlan:
    """How many orders flow, how fast, while the group changes size."""

    orders: int
    per_s: float


async def _scale(stack: ChaosStack, size: int) -> None:
    """Stop or (re)start members until `size` of them run."""
    alive = stack.running()
    for member in alive[size:]:
        member.down = True
        await asyncio.to_thread(member.process.stop)
    idle = [m for m in stack.members if m.down][: max(0, size - len(alive))]
    await asyncio.gather(*(stack.restart(m) for m in idle))
    while len(stack.running()) < size:
        await asyncio.to_thread(stack.add_member)


async def run_rebalance(
    stack: ChaosStack, plan: RebalancePlan, progress: Progress
) -> ScenarioResult:
    """Scale the group down to 1, up to 3 and down to 1 while orders flow; count."""
    result = ScenarioResult("R4", f"rebalance 1 → {PEAK} → 1 workers under load", n=plan.orders)
    erp, crm = stack.urls["erp"], stack.urls["crm"]
    size = len(stack.running())
    dead_before = await verify.dead_letters(stack.kafka, stack.prefix)
    desk = await OrderDesk(crm, erp).open(stack.wait_for)
    placing = None
    try:
        progress("R4: scaling the group to 1 worker")
        await _scale(stack, 1)
        placing = asyncio.create_task(desk.place(plan.orders, per_s=plan.per_s))
        for share, target in ((1 / 3, PEAK), (2 / 3, 1)):
            await stack.wait_for(desk.placed_share(share, plan.orders),
                                 what=f"{share:.0%} of the orders placed",
                                 timeout_s=120 + plan.orders)  # fmt: skip
            progress(f"R4: scaling to {target} worker(s) at {share:.0%} of {plan.orders} orders")
            await _scale(stack, target)
        orders = await placing

        counts = await settle_in_erp(stack, orders, label="R4", progress=progress,
                                     timeout_s=120 + plan.orders / 5)  # fmt: skip
        result.lost, result.duplicated = counts.lost, counts.duplicated
        result.zeros["status regressions"] = await verify.status_regressions(crm, orders)
        waits = await order_waits(crm, erp, set(orders))
        if waits:
            result.figures["order wait s p50"] = round(statistics.median(waits), 1)
            result.figures["order wait s max"] = round(max(waits), 1)
    finally:
        await desk.close(placing)
        result.crashes = stack.count_crashes()
        progress(f"R4: back to {size} worker(s)")
        await _scale(stack, size)
    result.dead_lettered = await verify.dead_letters(stack.kafka, stack.prefix) - dead_before
    return result
