"""The worker's connectors: each opened on first use from its settings, all closed at stop.

Settings come from the environment (`BIZBUS_CRM_*`, `BIZBUS_ERP_*`, `BIZBUS_OA_*`) and are
validated when the connector is first needed, failing with a message naming the bad setting.
"""

import asyncio
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from bizbus.connectors.settings import load_settings

if TYPE_CHECKING:
    from bizbus.connectors.feishu import FeishuConnector
    from bizbus.connectors.odoo import OdooConnector
    from bizbus.connectors.salesforce import SalesforceConnector


T = TypeVar("T")


class Connections:
    """Lazily opened, shared connectors (one HTTP client per system per worker)."""

    def __init__(self) -> None:
        self._open: dict[str, Any] = {}
        self._lock = asyncio.Lock()

    async def crm(self) -> "SalesforceConnector":
        """Return the CRM (Salesforce) connector."""
        from bizbus.connectors.salesforce import SalesforceConnector, SalesforceSettings

        return await self._get(
            "crm", lambda: SalesforceConnector(load_settings(SalesforceSettings))
        )

    async def erp(self) -> "OdooConnector":
        """Return the ERP (Odoo) connector."""
        from bizbus.connectors.odoo import OdooConnector, OdooSettings

        settings = load_settings(OdooSettings)
        return await self._get("erp", lambda: OdooConnector(settings))

    async def oa(self) -> "FeishuConnector":
        """Return the OA (Feishu) connector."""
        from bizbus.connectors.feishu import FeishuConnector, FeishuSettings

        settings = load_settings(FeishuSettings)
        return await self._get("oa", lambda: FeishuConnector(settings))

    async def _get(self, name: str, build: Callable[[], T]) -> T:
        async with self._lock:
            if name not in self._open:
                connector: Any = build()
                await connector.__aenter__()
                self._open[name] = connector
            return cast(T, self._open[name])

    async def close(self) -> None:
        """Close every opened connector."""
        for connector in self._open.values():
            with contextlib.suppress(Exception):
                await connector.__aexit__(None, None, None)
        self._open.clear()
