"""The sandbox systems: name → default port and app factory (imported lazily), one line each."""

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:  # the servers need the `sandbox` extra; naming them here does not
    from starlette.types import ASGIApp

    from bizbus.deploy.sandbox.app import SandboxConfig

AppFactory = Callable[["SandboxConfig"], "ASGIApp"]


@dataclass(frozen=True)
class SystemSpec:
    """One sandbox system."""

    name: str
    dialect: str
    default_port: int
    factory_path: str  # "module:function"
    credentials: dict[str, str]
    grpc_default_port: int | None = None  # a second, gRPC port (the CRM's Pub/Sub API)

    def factory(self) -> AppFactory:
        """Import and return the app factory (needs the `sandbox` extra)."""
        require_server_extra()
        module, _, function = self.factory_path.partition(":")
        return cast(AppFactory, getattr(importlib.import_module(module), function))


class SandboxExtraMissingError(RuntimeError):
    """The sandbox servers' dependencies (starlette, uvicorn) are not installed."""


def require_server_extra() -> None:
    """Raise a clear error when the `sandbox` extra is missing."""
    try:
        importlib.import_module("starlette")
        importlib.import_module("uvicorn")
    except ImportError:
        raise SandboxExtraMissingError(
            "the sandbox servers need the sandbox extra: pip install 'bizbus[sandbox]'"
        ) from None


# Sandbox-only credentials: printed by `bizbus sandbox up`, never valid anywhere else.
SYSTEMS: dict[str, SystemSpec] = {
    "crm": SystemSpec(
        "crm", "Salesforce REST API v60.0", 18101, "bizbus.deploy.sandbox.crm:create_app",
        {"client_id": "bizbus-sandbox-client", "client_secret": "sandbox-crm-secret"},
        grpc_default_port=18104,
    ),
    "erp": SystemSpec(
        "erp", "Odoo external API (XML-RPC, JSON-RPC, JSON-2)", 18102,
        "bizbus.deploy.sandbox.erp:create_app",
        {"db": "bizbus", "login": "admin", "password": "admin", "api_key": "sandbox-odoo-api-key",
         "integration_login": "bizbus", "integration_password": "bizbus",
         "integration_api_key": "sandbox-odoo-bizbus-key"},
    ),
    "oa": SystemSpec(
        "oa", "Feishu/Lark approval v4", 18103, "bizbus.deploy.sandbox.oa:create_app",
        {
            "app_id": "cli_sandbox0001",
            "app_secret": "sandbox-oa-secret",
            "encrypt_key": "sandbox-encrypt-key",
            "verification_token": "sandbox-verification-token",
        },
    ),
    "dingtalk": SystemSpec(
        "dingtalk", "DingTalk workflow 1.0 (OA)", 18105,
        "bizbus.deploy.sandbox.dingtalk:create_app",
        {
            "app_key": "dingsandboxappkey0001",
            "app_secret": "sandbox-dingtalk-secret",
            "callback_token": "sandbox-dingtalk-token",
            # 43 characters of base64: the EncodingAESKey of the app's event subscription.
            "aes_key": "c2FuZGJveC1kaW5ndGFsay1hZXMta2V5LTMyYnl0ZXM",
        },
    ),
}  # fmt: skip
