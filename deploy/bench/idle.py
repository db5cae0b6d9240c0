"""Idle API cost: calls per day each system gets from a worker with nothing to do, and the price.

A worker running every flow polls fresh sandboxes (CRM, ERP, OA) with the default poll
settings, each interval divided by `scale` so the back-off reaches its idle interval in
minutes rather than half an hour. Once it has (the ramp's length is computed from the same
settings), the sandboxes' request logs are read over `window_s`; calls per day at the default
settings = calls * 86,400 / window / scale (steady-state polling is linear in the interval).
Logins (OAuth tokens) are not counted: the vendors do not count them either. Then one CRM
account is changed and the time until its raw event is on Kafka is taken (after idling, so it
includes the wait for the next poll; at the defaults that wait is up to the CRM idle interval).
With `push` the CRM pushes its changes (Change Data Capture over the Pub/Sub API) and the ERP
its hints (Odoo webhook automation rules on the models bizbus polls), both safety polls scaled
like the rest, and several CRM changes are timed one after another (`cdc_p50_ms`).
"""

import asyncio
import statistics
import time
from collections.abc import Callable
from typing import Any

import httpx

from bizbus.deploy.bench.kafka_io import first_after
from bizbus.deploy.bench.stack import BenchStack
from bizbus.deploy.demo.actors import CrmUser
from bizbus.deploy.sandbox.company import employee
from bizbus.deploy.sandbox.erp_push import add_webhook_rules, new_token, push_env
from bizbus.deploy.sandbox.runner import start_sandbox, stop_sandbox
from bizbus.deploy.sandbox.wiring import connector_env
from bizbus.flows.settings import RuntimeSettings

__all__ = ["IDLE_SYSTEMS", "LOGIN_PATHS", "idle_calls", "scaled_settings"]

IDLE_SYSTEMS = ("crm", "erp", "oa")
LOGIN_PATHS = ("/services/oauth2/", "/open-apis/auth/", "/web/session/")
_OA_CATCH_UP_S = 60.0  # BIZBUS_OA_POLL_INTERVAL_S's default: the travel flow's own catch-up pace
_LATENCY_TIMEOUT_S = 600.0
_SAFETY_POLL_S = 600.0  # BIZBUS_CRM_PUSH_SAFETY_POLL_S's and BIZBUS_ERP_PUSH_SAFETY_POLL_S's
# A fresh subscription's first answer starts the catch-up poll (and readiness): the sandbox's
# keepalive is shortened from Salesforce's 270 s so the worker is ready in seconds.
_PUSH_SANDBOX_ENV = {"BIZBUS_SANDBOX_CRM_PUBSUB_KEEPALIVE_S": "5"}

Progress = Callable[[str], None]


def _default(name: str) -> float:
    value = RuntimeSettings.model_fields[name].default
    return float(value)


def scaled_settings(scale: float) -> dict[str, str]:
    """Return the poll settings of a worker at the defaults, every interval divided by `scale`."""
    env = {"BIZBUS_POLL_INTERVAL_S": str(_default("poll_interval_s") / scale)}
    for system in IDLE_SYSTEMS:
        env[f"BIZBUS_{system.upper()}_POLL_IDLE_S"] = str(_default(f"{system}_poll_idle_s") / scale)
    env["BIZBUS_OA_POLL_INTERVAL_S"] = str(_OA_CATCH_UP_S / scale)
    return env


def _ramp_s(scale: float) -> float:
    """Seconds until the slowest system's feeds poll at their idle interval (from the start)."""
    fast = _default("poll_interval_s") / scale
    idle = max(_default(f"{system}_poll_idle_s") for system in IDLE_SYSTEMS) / scale
    total, interval = 0.0, fast
    while interval < idle:
        interval = min(idle, interval * 2)
        total += interval
    return total + idle


async def _calls(url: str) -> tuple[int, list[dict[str, Any]]]:
    async with httpx.AsyncClient(base_url=url, timeout=10, trust_env=False) as http:
        body = (await http.get("/_sandbox/requests")).json()
    return int(body["total"]), list(body["requests"])


def _api_calls(logged: list[dict[str, Any]], after: int, until: int) -> int:
    return sum(
        1
        for entry in logged
        if after < entry["seq"] <= until and not str(entry["path"]).startswith(LOGIN_PATHS)
    )


async def idle_calls(
    stack: BenchStack,
    *,
    scale: float,
    window_s: float,
    progress: Progress,
    worker_env: dict[str, str] | None = None,
    settle_s: float | None = None,
    push: bool = False,
    changes: int = 1,
) -> dict[str, float]:
    """Return `idle_calls_per_day_<system>` at the default settings, and the CRM latency.

    `worker_env` adds to the worker's settings; `settle_s` overrides the computed ramp (e.g.
    for a worker without back-off). `push`: the CRM pushes (Change Data Capture) and the ERP
    posts webhook hints; `changes`:
    CRM changes timed one after another (`crm_change_to_kafka_ms` is their median).
    """
    label = "push" if push else "idle"
    sandboxes = await asyncio.to_thread(
        start_sandbox, list(IDLE_SYSTEMS), run_dir=stack.run_dir / f"{label}-sandbox",
        env=_PUSH_SANDBOX_ENV if push else None,
    )  # fmt: skip
    try:
        names = stack.names(label)
        grpc = sandboxes.grpc_addresses if push else None
        token = new_token()
        pushing = (
            {"BIZBUS_CRM_PUSH_SAFETY_POLL_S": str(_SAFETY_POLL_S / scale),
             **push_env(token, _SAFETY_POLL_S / scale)}
            if push else {}
        )  # fmt: skip
        settings = {**connector_env(sandboxes.urls, grpc), **scaled_settings(scale), **pushing,
                    **(worker_env or {})}  # fmt: skip
        worker = stack.worker(names, settings)
        if push:  # before the worker starts: its start-up poll covers what came before
            worker_url = f"http://127.0.0.1:{worker.env['BIZBUS_WEB_PORT']}"
            await asyncio.to_thread(add_webhook_rules, sandboxes.urls["erp"], worker_url, token)
        progress("starting a worker with every flow against idle sandboxes")
        await stack.start_worker(worker)
        settle = _ramp_s(scale) if settle_s is None else settle_s
        progress(f"letting the polls back off to their idle intervals ({settle:.0f} s)")
        await asyncio.sleep(settle)
        start = {s: (await _calls(sandboxes.urls[s]))[0] for s in IDLE_SYSTEMS}
        progress(f"counting idle API calls for {window_s:.0f} s")
        await asyncio.sleep(window_s)
        values: dict[str, float] = {"scale": scale, "window_s": window_s}
        for system in IDLE_SYSTEMS:
            total, logged = await _calls(sandboxes.urls[system])
            calls = _api_calls(logged, start[system], total)
            values[f"idle_calls_{system}"] = float(calls)
            values[f"idle_calls_per_day_{system}"] = calls * 86_400 / window_s / scale
        progress(f"changing a CRM account {changes} time(s) after the idle window")
        timed = [
            await _crm_latency(stack, sandboxes.urls["crm"], names.topic("src.crm.account"))
            for _ in range(changes)
        ]
        values["crm_change_to_kafka_ms"] = statistics.median(timed)
        values["crm_change_to_kafka_max_ms"] = max(timed)
        return values
    finally:
        stack.stop_processes()
        await asyncio.to_thread(stop_sandbox, sandboxes)


async def _crm_latency(stack: BenchStack, crm_url: str, topic: str) -> float:
    crm = await CrmUser(crm_url, employee("E1001").email).login()
    try:
        [account] = await crm.query("SELECT Id FROM Account ORDER BY AccountNumber LIMIT 1")
        changed_ms = int(time.time() * 1000)
        await crm.update("Account", account["Id"], {"Phone": f"+86 512 {changed_ms % 10_000:04d}"})
    finally:
        await crm.aclose()
    deadline = time.monotonic() + _LATENCY_TIMEOUT_S
    while time.monotonic() < deadline:
        stamp = await first_after(stack.connection, topic, changed_ms)
        if stamp is not None:
            return float(stamp - changed_ms)
        await asyncio.sleep(0.05)
    raise RuntimeError(f"no raw CRM account event within {_LATENCY_TIMEOUT_S:.0f} s")
