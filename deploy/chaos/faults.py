"""Put a sandbox system into one kind of fault for a while, and repair it afterwards.

503 and 429 (with Retry-After) come from the sandbox's fault plan; timeouts from SIGSTOPping
its process (the kernel accepts connections, nothing answers); refused connections from
stopping it and starting it again on its port with its database.
"""

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from bizbus.deploy.chaos.stack import SANDBOX_ENV, ChaosStack
from bizbus.deploy.sandbox.runner import restart_server, stop_server

__all__ = ["KINDS", "set_faults", "system_fault"]

KINDS = ("503", "429", "timeout", "refused")  # refused last: a restart resets the request log


async def set_faults(url: str, plan: dict[str, object] | None) -> None:
    """Set a sandbox's fault plan (None: no faults)."""
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        if plan is None:
            (await http.delete("/_sandbox/faults")).raise_for_status()
        else:
            (await http.post("/_sandbox/faults", json=plan)).raise_for_status()


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
        await set_faults(url, {"outage_until": time.time() + window_s, "error_status": 503})
    elif kind == "429":
        await set_faults(url, {"rate_limit_rate": 1.0, "retry_after_s": 2})
    elif kind == "timeout":
        os.kill(server.pid, signal.SIGSTOP)
    else:
        await asyncio.to_thread(stop_server, server)
    try:
        yield
    finally:
        if kind in ("503", "429"):
            await set_faults(url, None)
        elif kind == "timeout":
            os.kill(server.pid, signal.SIGCONT)
        else:
            stack.sandboxes = await asyncio.to_thread(
                restart_server, stack.sandboxes, system, env=SANDBOX_ENV
            )
