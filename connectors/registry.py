"""Connector registry: the one place that knows the dialects and the role each one plays.

One ``Dialect`` line per system dialect: its role (``crm``, ``erp`` or ``oa``), its connector
class and its settings class, as ``"module:attr"`` strings imported only when that dialect is
built. ``BIZBUS_<ROLE>_DIALECT`` picks the dialect of a role (defaults: salesforce, odoo,
feishu). Adding a system is its package plus one line in ``DIALECTS``.
"""

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType, TracebackType
from typing import Any, Literal, Protocol, Self, get_args

from pydantic import Field, ValidationInfo, field_validator

from bizbus.connectors.settings import BizbusSettings, load_settings

__all__ = [
    "DIALECTS",
    "ROLES",
    "Connector",
    "Dialect",
    "DialectSettings",
    "Role",
    "build_connector",
    "dialect_for",
]

Role = Literal["crm", "erp", "oa"]
ROLES: tuple[Role, ...] = get_args(Role)


class Connector(Protocol):
    """What the worker needs of every connector: open it once, probe it, close it at stop."""

    async def __aenter__(self) -> Self: ...

    async def ping(self) -> None:
        """One cheap authenticated call; raises when the system is not usable now."""
        ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


def _load(target: str) -> Any:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


@dataclass(frozen=True, slots=True)
class Dialect:
    """One system dialect: which role it serves and where its code and settings live.

    Attributes:
        name: The value of ``BIZBUS_<ROLE>_DIALECT`` that selects it.
        role: The role it serves.
        title: The product API it speaks, for people (``deploy/.env.example``).
        connector: ``"module:Class"`` of the connector; called as ``Class(settings)``.
        settings: ``"module:Class"`` of its pydantic-settings class (``BIZBUS_<ROLE>_*``).
    """

    name: str
    role: Role
    title: str
    connector: str
    settings: str

    def connector_class(self) -> type[Any]:
        """Import and return the connector class."""
        cls: type[Any] = _load(self.connector)
        return cls

    def settings_class(self) -> type[BizbusSettings]:
        """Import and return the settings class."""
        cls: type[BizbusSettings] = _load(self.settings)
        return cls


def _by_name(*dialects: Dialect) -> Mapping[str, Dialect]:
    return MappingProxyType({dialect.name: dialect for dialect in dialects})


_PKG = "bizbus.connectors"
DIALECTS: Mapping[str, Dialect] = _by_name(
    Dialect("salesforce", "crm", "Salesforce REST API",
            f"{_PKG}.salesforce:SalesforceConnector", f"{_PKG}.salesforce:SalesforceSettings"),
    Dialect("odoo", "erp", "Odoo external API",
            f"{_PKG}.odoo:OdooConnector", f"{_PKG}.odoo:OdooSettings"),
    Dialect("feishu", "oa", "Feishu/Lark approval v4",
            f"{_PKG}.feishu:FeishuConnector", f"{_PKG}.feishu:FeishuSettings"),
    Dialect("dingtalk", "oa", "DingTalk workflow 1.0",
            f"{_PKG}.dingtalk:DingTalkConnector", f"{_PKG}.dingtalk:DingTalkSettings"),
)  # fmt: skip
"""Every dialect bizbus can build, by name."""


def _choices(role: str) -> list[str]:
    return sorted(name for name, dialect in DIALECTS.items() if dialect.role == role)


class DialectSettings(BizbusSettings):
    """``BIZBUS_<ROLE>_DIALECT``: which registered dialect serves each role."""

    crm_dialect: str = Field("salesforce", description="the CRM's dialect, as registered")
    erp_dialect: str = Field("odoo", description="the ERP's dialect, as registered")
    oa_dialect: str = Field("feishu", description="the OA system's dialect, as registered")

    @field_validator("crm_dialect", "erp_dialect", "oa_dialect")
    @classmethod
    def _registered(cls, name: str, info: ValidationInfo) -> str:
        role = str(info.field_name).removesuffix("_dialect")
        choices = _choices(role)
        if name not in choices:
            raise ValueError(f"{name!r} is not a registered {role} dialect; use one of {choices}")
        return name

    def dialect(self, role: Role) -> Dialect:
        """The dialect chosen for ``role``."""
        chosen: str = getattr(self, f"{role}_dialect")
        return DIALECTS[chosen]


def dialect_for(role: Role, *, choice: DialectSettings | None = None) -> Dialect:
    """Return the dialect that serves ``role``.

    Args:
        role: ``crm``, ``erp`` or ``oa``.
        choice: The validated choice of dialects; read from the environment when None.

    Raises:
        ConfigError: ``BIZBUS_<ROLE>_DIALECT`` names no registered dialect of that role (the
            message lists the choices).
    """
    return (choice or load_settings(DialectSettings)).dialect(role)


def build_connector(
    role: Role, *, choice: DialectSettings | None = None, **overrides: Any
) -> Connector:
    """Build the connector of ``role`` with its settings loaded from the environment.

    Args:
        role: ``crm``, ``erp`` or ``oa``.
        choice: The validated choice of dialects; read from the environment when None.
        **overrides: Passed to the connector (tests: ``transport``, ``retry``, ...).

    Returns:
        The connector, not opened yet (``async with`` it, or ``Connections`` does).

    Raises:
        ConfigError: A bad dialect choice, or a bad or missing ``BIZBUS_<ROLE>_*`` setting
            (named in the message, its value never shown).
    """
    dialect = dialect_for(role, choice=choice)
    settings = load_settings(dialect.settings_class())
    connector: Connector = dialect.connector_class()(settings, **overrides)
    return connector
