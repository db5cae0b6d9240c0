"""Sandbox CRM speaking the Salesforce REST API dialect (v60.0; any vNN.0 path is accepted).

OAuth 2.0 client credentials (or username-password) at `/services/oauth2/token`; SOQL subset,
sObject CRUD and upsert by External ID; SQLite storage; effects log and faults via `/_sandbox/*`.
Faults may also come from `BIZBUS_SANDBOX_CRM_FAULTS` (a FaultPlan as JSON). With a gRPC port,
the Pub/Sub API serves every write as a Change Data Capture event (`crm.pubsub`). See README.md.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pydantic import Field
from pydantic_settings import SettingsConfigDict
from starlette.applications import Starlette
from starlette.types import ASGIApp

from bizbus.deploy.sandbox.app import SandboxConfig, SandboxContext, build_app
from bizbus.deploy.sandbox.clock import SandboxClock
from bizbus.deploy.sandbox.crm.cdc_control import change_control_routes
from bizbus.deploy.sandbox.crm.changes import ChangeLog, epoch_ms
from bizbus.deploy.sandbox.crm.errors import fault_body
from bizbus.deploy.sandbox.crm.pubsub import PubSubService, start_pubsub
from bizbus.deploy.sandbox.crm.records import RecordStore, create_schema
from bizbus.deploy.sandbox.crm.routes import CrmApi
from bizbus.deploy.sandbox.crm.seed import seed
from bizbus.deploy.sandbox.settings import SandboxSettings
from bizbus.deploy.sandbox.store import SandboxStore

__all__ = ["CrmSandboxSettings", "create_app"]


class CrmSandboxSettings(SandboxSettings):
    """Environment settings of the sandbox CRM process."""

    model_config = SettingsConfigDict(env_prefix="BIZBUS_SANDBOX_CRM_")

    event_retention_s: float = Field(
        259_200.0, gt=0, description="seconds change events stay replayable (Salesforce: 72 h)"
    )
    pubsub_keepalive_s: float = Field(
        270.0, gt=0, description="seconds before an idle subscription gets an empty batch"
    )


def create_app(config: SandboxConfig) -> ASGIApp:
    """Return the sandbox CRM ASGI app over `config.db_path` (seeded when empty)."""
    settings = CrmSandboxSettings()
    store = SandboxStore(config.db_path)
    create_schema(store)
    clock = SandboxClock(manual=config.manual_clock)
    changes = ChangeLog(
        store, now_ms=lambda: epoch_ms(clock.now()), retention_s=settings.event_retention_s
    )
    records = RecordStore(store, changes)
    if config.seed and not store.query('SELECT 1 FROM "User" LIMIT 1'):
        with store.transaction():
            seed(records, clock.now())
    config = settings.apply_faults(config)
    ctx = SandboxContext("crm", store, clock)
    service = PubSubService(records, changes, keepalive_s=settings.pubsub_keepalive_s)
    grpc_port = config.grpc_port

    @asynccontextmanager
    async def pubsub(_: Starlette) -> AsyncIterator[None]:
        server = await start_pubsub(service, grpc_port) if grpc_port else None
        try:
            yield
        finally:
            if server is not None:
                await server.stop(grace=1)

    routes = [*CrmApi(ctx, records).routes(), *change_control_routes(records, changes, clock)]
    return build_app(ctx, routes, config, fault_body=fault_body, lifespan=pubsub)
