"""R3: the ERP, the CRM, then the OA fail in four ways, a window each, while the work goes on.

Each answers 503, then 429 with Retry-After, then not at all (timeouts), then refuses
connections; every window length of the plan in turn (10 s quick; 10 s, 2 min and 10 min
full). The ERP fails while orders keep being placed in the CRM; the CRM fails while the ERP
moves orders placed just before along (confirmed, produced, shipped, invoiced), so every
status it reports must wait for the CRM; the OA fails right after trips were approved in it
(`oa_outages`). Faults: `faults.system_fault`. Targets: dead letters 0, lost 0,
duplicates 0, crashes 0, and no window in which the stages that do not call the ERP stood still
(no order's command reached `cmd.erp.sales-order` while the ERP was failing: the records'
Kafka timestamps fall in the window). For the CRM: its orders all at Invoiced after recovery
(statuses lost 0), status regressions 0, and no window in which the ERP-side stages stood still
(updates for the CRM reached `cmd.crm.order` while it was failing). Figures: orders placed in
the window whose command got through before it ended; the ERP calls per second during a 503/429
window as a ratio of the calls per second with orders flowing normally (the sandbox's request
log); seconds from the CRM's recovery until every CRM order shows Invoiced.
"""

import asyncio
import contextlib
import time
from dataclasses import dataclass

from bizbus.deploy.chaos import verify
from bizbus.deploy.chaos.faults import KINDS, system_fault
from bizbus.deploy.chaos.oa_outages import oa_outages
from bizbus.deploy.chaos.orders import OrderDesk, settle_in_erp
from bizbus.deploy.chaos.report import ScenarioResult
from bizbus.deploy.chaos.stack import ChaosStack, ChaosTimeout, Progress

__all__ = ["KINDS", "OutagePlan", "run_outages"]


@dataclass(frozen=True)
class OutagePlan:
    """How long each fault lasts (every length in turn) and how fast orders arrive meanwhile."""

    windows_s: tuple[float, ...]
    per_s: float


async def _last_seq(url: str) -> int:
    rows = await verify.requests_since(url)
    return int(rows[-1]["seq"]) if rows else 0


async def run_outages(stack: ChaosStack, plan: OutagePlan, progress: Progress) -> ScenarioResult:
    """Run each fault window of each length with orders flowing; count from the systems."""
    lengths = ", ".join(f"{window:g} s" for window in plan.windows_s)
    result = ScenarioResult("R3", f"ERP, CRM and OA outages, {lengths} each ({', '.join(KINDS)})")
    dead_before = await verify.dead_letters(stack.kafka, stack.prefix)
    desk = await OrderDesk(stack.urls["crm"], stack.urls["erp"]).open(stack.wait_for)
    try:
        for window_s in plan.windows_s:
            label = f"{window_s:g} s · " if len(plan.windows_s) > 1 else ""
            await _erp_outages(stack, desk, window_s, plan.per_s, result, label, progress)
            await _crm_outages(stack, desk, window_s, plan.per_s, result, label, progress)
            trips, orders = await oa_outages(
                stack, desk, window_s, plan.per_s, kinds=KINDS, result=result, label=label,
                progress=progress,
            )  # fmt: skip
            counts = await settle_in_erp(
                stack, orders, label="R3 after the OA outages", progress=progress,
                timeout_s=180 + len(orders) / 5,
            )  # fmt: skip
            result.n += trips + len(orders)
            result.lost += counts.lost
            result.duplicated += counts.duplicated
    finally:
        await desk.close()
    result.dead_lettered = await verify.dead_letters(stack.kafka, stack.prefix) - dead_before
    result.crashes = stack.count_crashes()
    return result


async def _erp_outages(
    stack: ChaosStack, desk: OrderDesk, window_s: float, per_s: float, result: ScenarioResult,
    label: str, progress: Progress,
) -> None:  # fmt: skip
    """Fail the ERP four ways while orders keep being placed in the CRM; count, then settle."""
    erp = stack.urls["erp"]
    per_window = max(1, int(per_s * window_s))
    progress(f"R3: normal traffic for {window_s:.0f} s")
    seq, began = await _last_seq(erp), time.monotonic()
    orders = await desk.place(per_window, per_s=per_s)
    normal_rate = len(await verify.requests_since(erp, seq)) / (time.monotonic() - began)
    stalled = 0
    for kind in KINDS:
        progress(f"R3: ERP {kind} for {window_s:.0f} s while orders flow")
        seq = await _last_seq(erp) if kind in ("503", "429") else 0
        began, wall = time.monotonic(), time.time()
        async with system_fault(stack, "erp", kind, window_s):
            placed = await desk.place(per_window, per_s=per_s)
            await asyncio.sleep(max(0.0, began + window_s - time.monotonic()))
            commands = await verify.read_records(stack.kafka, [stack.topic("cmd.erp.sales-order")])
            through = {(r.key or b"").decode() for r in commands} & set(placed)
            mine = {*orders, *placed}
            flowing = [r for r in commands if r.timestamp >= wall * 1000
                       and (r.key or b"").decode() in mine]  # fmt: skip
        orders += placed
        stalled += not flowing
        result.figures[f"{label}{kind}: orders through to cmd.erp during outage"] = (
            f"{len(through)}/{len(placed)}"
        )
        if kind in ("503", "429") and normal_rate:
            during = len(await verify.requests_since(erp, seq)) / (time.monotonic() - began)
            result.figures[f"{label}{kind}: ERP call ratio vs normal"] = round(
                during / normal_rate, 2
            )
    result.zeros[f"{label}windows where CRM-side stages stalled"] = stalled
    recovered = time.monotonic()
    counts = await settle_in_erp(stack, orders, label="R3 after recovery", progress=progress,
                                 timeout_s=180 + len(orders) / 5)  # fmt: skip
    result.n += len(orders)
    result.lost += counts.lost
    result.duplicated += counts.duplicated
    if not counts.lost:
        result.figures[f"{label}recovered → all in ERP s"] = round(time.monotonic() - recovered, 1)


async def _crm_outages(
    stack: ChaosStack, desk: OrderDesk, window_s: float, per_s: float, result: ScenarioResult,
    label: str, progress: Progress,
) -> None:  # fmt: skip
    """Fail the CRM four ways while the ERP moves orders along; count their CRM statuses."""
    crm = stack.urls["crm"]
    per_window = max(2, int(per_s * window_s / 2))
    orders: list[str] = []
    stalled = 0
    for kind in KINDS:
        placed = await desk.place(per_window, per_s=per_s)
        await settle_in_erp(stack, placed, label=f"R3 before CRM {kind}", progress=progress,
                            timeout_s=120 + per_window)  # fmt: skip
        progress(f"R3: CRM {kind} for {window_s:.0f} s while the ERP moves orders along")
        wall = time.time()
        async with system_fault(stack, "crm", kind, window_s):
            await asyncio.sleep(window_s)
            updates = await verify.read_records(stack.kafka, [stack.topic("cmd.crm.order")])
        orders += placed
        stalled += not [r for r in updates if r.timestamp >= wall * 1000
                        and (r.key or b"").decode() in orders]  # fmt: skip
    result.zeros[f"{label}windows where ERP-side stages stalled"] = stalled
    recovered = time.monotonic()

    async def all_invoiced() -> bool:
        behind = await _not_invoiced(crm, orders)
        progress(
            f"R3 after the CRM outages: {len(orders) - behind}/{len(orders)} CRM orders Invoiced"
        )
        return behind == 0

    with contextlib.suppress(ChaosTimeout):
        await stack.wait_for(all_invoiced, what="every CRM order Invoiced",
                             timeout_s=180 + len(orders), interval_s=2)  # fmt: skip
    lost = await _not_invoiced(crm, orders)
    result.zeros[f"{label}CRM statuses lost"] = lost
    result.zeros[f"{label}CRM status regressions"] = await verify.status_regressions(crm, orders)
    result.n += len(orders)
    if not lost:
        result.figures[f"{label}CRM back → all Invoiced s"] = round(time.monotonic() - recovered, 1)


async def _not_invoiced(crm_url: str, orders: list[str]) -> int:
    """Count the orders whose last status written in the CRM is not Invoiced (its write log)."""
    last: dict[str, str] = {}
    for row in await verify.effects(crm_url, "Order"):
        status = (row["detail"].get("fields") or {}).get("ErpStatus__c")
        if status:
            last[row["record_id"]] = status
    return sum(last.get(order) != "Invoiced" for order in orders)
