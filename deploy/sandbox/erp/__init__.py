"""Sandbox ERP speaking the Odoo 17 external API: XML-RPC, JSON-RPC and JSON-2 (see README.md).

`create_app(config)` builds the ASGI app; the fulfilment engine runs on `POST /_sandbox/clock`
(manual clock) or every 0.5 s in the background (real-time clock). Step spacing:
`BIZBUS_SANDBOX_ERP_STEP_S` (default 2 sandbox seconds); faults: `BIZBUS_SANDBOX_ERP_FAULTS`.
"""

import asyncio
import contextlib
import logging
import os

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from deploy.sandbox.app import SandboxConfig, SandboxContext, build_app
from deploy.sandbox.clock import SandboxClock
from deploy.sandbox.erp import json2, rpc_json, rpc_xml
from deploy.sandbox.erp.engine import DEFAULT_STEP_S, FulfilmentEngine
from deploy.sandbox.erp.orm import Env
from deploy.sandbox.erp.seed import seed
from deploy.sandbox.erp.service import ErpService
from deploy.sandbox.faults import FaultPlan
from deploy.sandbox.store import SandboxStore

__all__ = ["TICK_S", "ErpApp", "create_app", "fault_body"]

TICK_S = 0.5
_log = logging.getLogger(__name__)


def fault_body(status: int) -> tuple[bytes, str]:
    """Body of an injected 5xx/429: what a proxy in front of Odoo would pass on, as JSON-2 JSON."""
    name = (
        "werkzeug.exceptions.TooManyRequests"
        if status == 429
        else "werkzeug.exceptions.ServiceUnavailable"
    )
    message = (
        "Too many requests, retry later" if status == 429 else "Service unavailable (sandbox fault)"
    )
    return json2.error_body(name, message), "application/json"


class ErpApp:
    """The ASGI app plus a lifespan that runs the engine in real time (Starlette's is not ours)."""

    def __init__(self, app: ASGIApp, service: ErpService) -> None:
        self.app = app
        self.service = service
        self._task: asyncio.Task[None] | None = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            if self.service.ctx.clock.manual:
                continue
            try:
                await self.service.tick()
            except Exception:  # noqa: BLE001 - keep the engine alive; the log shows the error
                _log.exception("fulfilment engine step failed")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle lifespan here; pass everything else to the app."""
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._task = asyncio.create_task(self._loop())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._task is not None:
                    self._task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await self._task
                await send({"type": "lifespan.shutdown.complete"})
                return


def create_app(config: SandboxConfig) -> ErpApp:
    """Build the sandbox ERP app: fresh schema, seed data, routes, engine, control API."""
    store = SandboxStore(config.db_path)
    ctx = SandboxContext("erp", store, SandboxClock(manual=config.manual_clock))
    engine = FulfilmentEngine(
        step_s=float(os.environ.get("BIZBUS_SANDBOX_ERP_STEP_S", DEFAULT_STEP_S))
    )
    service = ErpService(ctx, engine)
    with store.transaction():
        Env.create_tables(store)
        FulfilmentEngine.create_tables(service.env())
        if config.seed:
            seed(service.env())
    ctx.on_clock_advance.append(service.tick)
    faults = os.environ.get("BIZBUS_SANDBOX_ERP_FAULTS")
    if faults and config.faults == FaultPlan():
        config.faults = FaultPlan.model_validate(orjson.loads(faults))
    routes = [*rpc_xml.routes(service), *rpc_json.routes(service), *json2.routes(service)]
    return ErpApp(build_app(ctx, routes, config, fault_body=fault_body), service)
