"""Sandbox OA speaking DingTalk's dialect: `create_app(config)` → ASGI app.

App access token, workflow 1.0 process instances (create, get, list ids, execute, terminate),
the legacy user lookup, and encrypted, signed HTTP push of ``bpms_instance_change`` events with
``check_url`` registration and redelivery, and Stream mode (gateway ticket, WebSocket, ACKs).
Settings: `BIZBUS_SANDBOX_DINGTALK_DELIVERY` and
`BIZBUS_SANDBOX_DINGTALK_FAULTS` (JSON).
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pydantic_settings import SettingsConfigDict
from starlette.applications import Starlette
from starlette.types import ASGIApp

from bizbus.deploy.sandbox.app import SandboxConfig, SandboxContext, build_app
from bizbus.deploy.sandbox.clock import SandboxClock
from bizbus.deploy.sandbox.dingtalk.book import Book
from bizbus.deploy.sandbox.dingtalk.delivery import AppSecrets, DeliverySettings, Pusher
from bizbus.deploy.sandbox.dingtalk.errors import fault_body
from bizbus.deploy.sandbox.dingtalk.routes import dingtalk_routes
from bizbus.deploy.sandbox.dingtalk.seed import CORP_ID, seed
from bizbus.deploy.sandbox.dingtalk.stream import StreamHub
from bizbus.deploy.sandbox.registry import SYSTEMS
from bizbus.deploy.sandbox.settings import SandboxSettings
from bizbus.deploy.sandbox.store import SandboxStore

__all__ = ["DingTalkSandboxSettings", "create_app"]


class DingTalkSandboxSettings(SandboxSettings):
    """Environment settings of the sandbox DingTalk."""

    model_config = SettingsConfigDict(env_prefix="BIZBUS_SANDBOX_DINGTALK_")

    delivery: DeliverySettings = DeliverySettings()


def create_app(config: SandboxConfig) -> ASGIApp:
    """Return the sandbox DingTalk app on a fresh or existing SQLite database."""
    settings = DingTalkSandboxSettings()
    config = settings.apply_faults(config)
    credentials = SYSTEMS["dingtalk"].credentials
    store = SandboxStore(config.db_path)
    seed(store, with_data=config.seed)
    ctx = SandboxContext("dingtalk", store, SandboxClock(manual=config.manual_clock))
    book = Book(ctx, app_key=credentials["app_key"])
    secrets = AppSecrets(
        app_key=credentials["app_key"], token=credentials["callback_token"],
        aes_key=credentials["aes_key"],
    )  # fmt: skip
    pusher = Pusher(store, secrets, settings.delivery)
    hub = StreamHub(
        store, app_key=credentials["app_key"], corp_id=CORP_ID, settings=lambda: pusher.settings
    )

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await pusher.start()
        hub.start()
        try:
            yield
        finally:
            await hub.stop()
            await pusher.stop()

    routes = dingtalk_routes(book, pusher, hub, app_secret=credentials["app_secret"])
    return build_app(ctx, routes, config, fault_body=fault_body, lifespan=lifespan)
