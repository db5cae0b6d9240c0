"""Sandbox OA speaking the Feishu/Lark approval v4 dialect: `create_app(config)` → ASGI app.

Tenant token auth, a seeded 出差申请 definition with a trip group, instances with `uuid`
idempotency, approve/reject/cancel, and encrypted, signed event push with redelivery.
Settings: `BIZBUS_SANDBOX_OA_DELIVERY` and `BIZBUS_SANDBOX_OA_FAULTS` (JSON).
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pydantic_settings import SettingsConfigDict
from starlette.applications import Starlette
from starlette.types import ASGIApp

from bizbus.deploy.sandbox.app import SandboxConfig, SandboxContext, build_app
from bizbus.deploy.sandbox.clock import SandboxClock
from bizbus.deploy.sandbox.oa.approvals import ApprovalBook
from bizbus.deploy.sandbox.oa.delivery import DeliverySettings, Pusher
from bizbus.deploy.sandbox.oa.errors import fault_body
from bizbus.deploy.sandbox.oa.events import AppIdentity
from bizbus.deploy.sandbox.oa.routes import oa_routes
from bizbus.deploy.sandbox.oa.seed import TENANT_KEY, seed
from bizbus.deploy.sandbox.registry import SYSTEMS
from bizbus.deploy.sandbox.settings import SandboxSettings
from bizbus.deploy.sandbox.store import SandboxStore

__all__ = ["OaSandboxSettings", "create_app"]


class OaSandboxSettings(SandboxSettings):
    """Environment settings of the sandbox OA."""

    model_config = SettingsConfigDict(env_prefix="BIZBUS_SANDBOX_OA_")

    delivery: DeliverySettings = DeliverySettings()


def create_app(config: SandboxConfig) -> ASGIApp:
    """Return the sandbox OA app on a fresh or existing SQLite database."""
    settings = OaSandboxSettings()
    config = settings.apply_faults(config)
    credentials = SYSTEMS["oa"].credentials
    store = SandboxStore(config.db_path)
    seed(store, with_data=config.seed)
    ctx = SandboxContext("oa", store, SandboxClock(manual=config.manual_clock))
    app = AppIdentity(
        app_id=credentials["app_id"], tenant_key=TENANT_KEY,
        encrypt_key=credentials["encrypt_key"],
        verification_token=credentials["verification_token"],
    )  # fmt: skip
    book = ApprovalBook(ctx, app_id=app.app_id)
    pusher = Pusher(store, app, settings.delivery)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await pusher.start()
        try:
            yield
        finally:
            await pusher.stop()

    routes = oa_routes(book, pusher, app_secret=credentials["app_secret"])
    return build_app(ctx, routes, config, fault_body=fault_body, lifespan=lifespan)
