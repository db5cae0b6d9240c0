"""Sandbox ERP speaking the Odoo 17 external API: XML-RPC, JSON-RPC and JSON-2 (see README.md).

`create_app(config)` builds the ASGI app; the fulfilment engine runs on `POST /_sandbox/clock`
(manual clock) or every 0.5 s in the background (real-time clock). Step spacing:
`BIZBUS_SANDBOX_ERP_STEP_S` (default 2 sandbox seconds); faults: `BIZBUS_SANDBOX_ERP_FAULTS`.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pydantic import Field
from pydantic_settings import SettingsConfigDict
from starlette.applications import Starlette
from starlette.types import ASGIApp

from bizbus.deploy.sandbox.app import SandboxConfig, SandboxContext, build_app
from bizbus.deploy.sandbox.clock import SandboxClock
from bizbus.deploy.sandbox.erp import automation, json2, rpc_json, rpc_xml
from bizbus.deploy.sandbox.erp.engine import DEFAULT_STEP_S, FulfilmentEngine
from bizbus.deploy.sandbox.erp.orm import Env
from bizbus.deploy.sandbox.erp.seed import seed
from bizbus.deploy.sandbox.erp.service import ErpService
from bizbus.deploy.sandbox.settings import SandboxSettings
from bizbus.deploy.sandbox.store import SandboxStore

__all__ = ["TICK_S", "ErpSandboxSettings", "build_service", "create_app", "fault_body"]

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


class ErpSandboxSettings(SandboxSettings):
    """Environment settings of the sandbox ERP process."""

    model_config = SettingsConfigDict(env_prefix="BIZBUS_SANDBOX_ERP_")

    step_s: float = Field(
        default=DEFAULT_STEP_S, gt=0, description="Sandbox seconds between fulfilment steps."
    )


async def _run_engine(service: ErpService) -> None:
    """Advance the fulfilment engine in real time (a manual clock only moves on request)."""
    while True:
        await asyncio.sleep(TICK_S)
        if service.ctx.clock.manual:
            continue
        try:
            await service.tick()
        except Exception:  # noqa: BLE001 - keep the engine alive; the log shows the error
            _log.exception("fulfilment engine step failed")


def build_service(config: SandboxConfig, settings: ErpSandboxSettings | None = None) -> ErpService:
    """Return the ERP's ORM and engine over a fresh schema (seeded unless told not to)."""
    settings = settings or ErpSandboxSettings()
    store = SandboxStore(config.db_path)
    ctx = SandboxContext("erp", store, SandboxClock(manual=config.manual_clock))
    service = ErpService(ctx, FulfilmentEngine(step_s=settings.step_s))
    with store.transaction():
        Env.create_tables(store)
        FulfilmentEngine.create_tables(service.env())
        automation.seed_metadata(service.env())
        if config.seed:
            seed(service.env())
    ctx.on_clock_advance.append(service.tick)
    return service


def create_app(config: SandboxConfig) -> ASGIApp:
    """Build the sandbox ERP app: fresh schema, seed data, routes, engine, control API."""
    settings = ErpSandboxSettings()
    service = build_service(config, settings)
    config = settings.apply_faults(config)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(_run_engine(service))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    routes = [*rpc_xml.routes(service), *rpc_json.routes(service), *json2.routes(service)]
    return build_app(service.ctx, routes, config, fault_body=fault_body, lifespan=lifespan)
