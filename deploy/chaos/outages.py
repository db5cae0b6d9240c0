"""R3: the ERP, then the CRM, fail in four ways, one window each, while the work goes on.

Each answers 503, then 429 with Retry-After, then not at all (timeouts), then refuses
connections. The ERP fails while orders keep being placed in the CRM; the CRM fails while the
ERP moves orders placed just before along (confirmed, produced, shipped, invoiced), so every
status it reports must wait for the CRM.

Faults: 503 and 429 through the sandbox's fault plan; timeouts by SIGSTOPping the ERP process
(connections are accepted by the kernel, nothing answers); refused connections by stopping it
and starting it again on its port with its database. Targets: dead letters 0, lost 0,
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
import os
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

from bizbus.deploy.chaos import verify
from bizbus.deploy.chaos.orders import OrderDesk, settle_in_erp
from bizbus.deploy.chaos.report import ScenarioResult
from bizbus.deploy.chaos.stack import SANDBOX_ENV, ChaosStack, ChaosTimeout, Progress
from bizbus.deploy.sandbox.runner import restart_server, stop_server

__all__ = ["KINDS", "OutagePlan", "run_outages", "system_fault"]

KINDS = ("503", "429", "timeout", "refused")  # refused last: a restart resets the request log


@dataclass(frozen=True)
class OutagePlan:
    """How long each fault lasts and how fast orders arrive meanwhile."""

    window_s: float
    per_s: float


async def _set_faults(url: str, plan: dict[str, object] | None) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        if plan is None:
            (await http.delete("/_sandbox/faults")).raise_for_status()
        else:
            (await http.post("/_sandbox/faults", json=plan)).raise_for_status()


async def _last_seq(url: str) -> int:
    rows = await verify.requests_since(url)
    return int(rows[-1]["seq"]) if rows else 0


@asynccontextmanager
async def system_fault(
    stack: ChaosStack, system: str, kind: str, window_s: float
) -> AsyncIterator[None]:
    """Hold `system` in fault `kind` while the block runs, and repair it afterwards."""
    if stack.sandboxes is None:
        raise RuntimeError("the sandboxes are not started")
    url = stack.urls[system]
    server = next(s for s in stack.sandboxes.servers if s.name == system)
    if kind == "503":
        await _set_faults(url, {"outage_until": time.time() + window_s, "error_status": 503})
    elif kind == "429":
        await _set_faults(url, {"rate_limit_rate": 1.0, "retry_after_s": 2})
    elif kind == "timeout":
        os.kill(server.pid, signal.SIGSTOP)
    else:
        await asyncio.to_thread(stop_server, server)
    try:
        yield
    finally:
        if kind in ("503", "429"):
            await _set_faults(url, None)
        elif kind == "timeout":
            os.kill(server.pid, signal.SIGCONT)
        else:
            stack.sandboxes = await asyncio.to_thread(
                restart_server, stack.sandboxes, system, env=SANDBOX_ENV
            )


async def run_outages(stack: ChaosStack, plan: OutagePlan, progress: Progress) -> ScenarioResult:
    """Run each fault window with orders flowing; count from the ERP, the CRM and Kafka."""
    result = ScenarioResult(
        "R3", f"ERP and CRM outages, {plan.window_s:.0f} s each ({', '.join(KINDS)})"
    )
    erp = stack.urls["erp"]
    dead_before = await verify.dead_letters(stack.kafka, stack.prefix)
    per_window = max(1, int(plan.per_s * plan.window_s))
    desk = await OrderDesk(stack.urls["crm"], erp).open(stack.wait_for)
    try:
        progress(f"R3: normal traffic for {plan.window_s:.0f} s")
        seq, began = await _last_seq(erp), time.monotonic()
        orders = await desk.place(per_window, per_s=plan.per_s)
        normal_rate = len(await verify.requests_since(erp, seq)) / (time.monotonic() - began)
        stalled = 0
        for kind in KINDS:
            progress(f"R3: ERP {kind} for {plan.window_s:.0f} s while orders flow")
            seq = await _last_seq(erp) if kind in ("503", "429") else 0
            began, wall = time.monotonic(), time.time()
            async with system_fault(stack, "erp", kind, plan.window_s):
                placed = await desk.place(per_window, per_s=plan.per_s)
                await asyncio.sleep(max(0.0, began + plan.window_s - time.monotonic()))
                commands = await verify.read_records(
                    stack.kafka, [stack.topic("cmd.erp.sales-order")]
                )
                through = {(r.key or b"").decode() for r in commands} & set(placed)
                mine = {*orders, *placed}
                flowing = [r for r in commands if r.timestamp >= wall * 1000
                           and (r.key or b"").decode() in mine]  # fmt: skip
            orders += placed
            stalled += not flowing
            result.figures[f"{kind}: orders through to cmd.erp during outage"] = (
                f"{len(through)}/{len(placed)}"
            )
            if kind in ("503", "429") and normal_rate:
                during = len(await verify.requests_since(erp, seq)) / (time.monotonic() - began)
                result.figures[f"{kind}: ERP call ratio vs normal"] = round(during / normal_rate, 2)
        result.zeros["windows where CRM-side stages stalled"] = stalled
        result.n = len(orders)
        recovered = time.monotonic()

        counts = await settle_in_erp(stack, orders, label="R3 after recovery", progress=progress,
                                     timeout_s=180 + len(orders) / 5)  # fmt: skip
        result.lost, result.duplicated = counts.lost, counts.duplicated
        if not counts.lost:
            result.figures["recovered → all in ERP s"] = round(time.monotonic() - recovered, 1)
        crm_orders = await _crm_outages(stack, desk, plan, result, progress)
        result.n = len(orders) + len(crm_orders)
    finally:
        await desk.close()
    result.dead_lettered = await verify.dead_letters(stack.kafka, stack.prefix) - dead_before
    result.crashes = stack.count_crashes()
    return result


async def _crm_outages(
    stack: ChaosStack, desk: OrderDesk, plan: OutagePlan, result: ScenarioResult,
    progress: Progress,
) -> list[str]:  # fmt: skip
    """Fail the CRM four ways while the ERP works on orders; return the orders placed for it."""
    crm = stack.urls["crm"]
    per_window = max(2, int(plan.per_s * plan.window_s / 2))
    orders: list[str] = []
    stalled = 0
    for kind in KINDS:
        placed = await desk.place(per_window, per_s=plan.per_s)
        await settle_in_erp(stack, placed, label=f"R3 before CRM {kind}", progress=progress,
                            timeout_s=120 + per_window)  # fmt: skip
        progress(f"R3: CRM {kind} for {plan.window_s:.0f} s while the ERP moves orders along")
        wall = time.time()
        async with system_fault(stack, "crm", kind, plan.window_s):
            await asyncio.sleep(plan.window_s)
            updates = await verify.read_records(stack.kafka, [stack.topic("cmd.crm.order")])
        orders += placed
        stalled += not [r for r in updates if r.timestamp >= wall * 1000
                        and (r.key or b"").decode() in orders]  # fmt: skip
    result.zeros["windows where ERP-side stages stalled"] = stalled
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
    result.zeros["CRM statuses lost"] = await _not_invoiced(crm, orders)
    result.zeros["CRM status regressions"] = await verify.status_regressions(crm, orders)
    if not result.zeros["CRM statuses lost"]:
        result.figures["CRM back → all Invoiced s"] = round(time.monotonic() - recovered, 1)
    return orders


async def _not_invoiced(crm_url: str, orders: list[str]) -> int:
    """Count the orders whose last status written in the CRM is not Invoiced (its write log)."""
    last: dict[str, str] = {}
    for row in await verify.effects(crm_url, "Order"):
        status = (row["detail"].get("fields") or {}).get("ErpStatus__c")
        if status:
            last[row["record_id"]] = status
    return sum(last.get(order) != "Invoiced" for order in orders)
