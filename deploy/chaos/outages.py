"""R3: the ERP fails in four ways, one window each, while orders keep being placed in the CRM.

It answers 503, then 429 with Retry-After, then not at all (timeouts), then refuses connections.

Faults: 503 and 429 through the sandbox's fault plan; timeouts by SIGSTOPping the ERP process
(connections are accepted by the kernel, nothing answers); refused connections by stopping it
and starting it again on its port with its database. Targets: dead letters 0, lost 0,
duplicates 0, crashes 0, and no window in which the stages that do not call the ERP stood still
(no order's command reached `cmd.erp.sales-order` while the ERP was failing: the records'
Kafka timestamps fall in the window). Figures: orders placed in the window whose command got
through before it ended; the ERP calls per second during a 503/429 window as a ratio of the
calls per second with orders flowing normally (the sandbox's request log).
"""

import asyncio
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
from bizbus.deploy.chaos.stack import SANDBOX_ENV, ChaosStack, Progress
from bizbus.deploy.sandbox.runner import restart_server, stop_server

__all__ = ["KINDS", "OutagePlan", "run_outages"]

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
async def erp_fault(stack: ChaosStack, kind: str, window_s: float) -> AsyncIterator[None]:
    """Hold the ERP in fault `kind` while the block runs, and repair it afterwards."""
    if stack.sandboxes is None:
        raise RuntimeError("the sandboxes are not started")
    url = stack.urls["erp"]
    server = next(s for s in stack.sandboxes.servers if s.name == "erp")
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
                restart_server, stack.sandboxes, "erp", env=SANDBOX_ENV
            )


async def run_outages(stack: ChaosStack, plan: OutagePlan, progress: Progress) -> ScenarioResult:
    """Run each fault window with orders flowing; count from the ERP, the CRM and Kafka."""
    result = ScenarioResult("R3", f"ERP outages, {plan.window_s:.0f} s each ({', '.join(KINDS)})")
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
            async with erp_fault(stack, kind, plan.window_s):
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
    finally:
        await desk.close()
    result.dead_lettered = await verify.dead_letters(stack.kafka, stack.prefix) - dead_before
    result.crashes = stack.count_crashes()
    return result
