"""The worker's connectors: built through the registry on first use, all closed at stop.

`BIZBUS_<ROLE>_DIALECT` picks each role's dialect (checked when the context is built) and its
`BIZBUS_<ROLE>_*` settings are validated when the connector is first needed, failing with a
message naming the bad setting. Flows ask by role, with the type they need.
"""

import asyncio
import contextlib
from collections.abc import Callable
from typing import TypeVar, cast, overload

from bizbus.connectors.approvals import ApprovalConnector
from bizbus.connectors.errors import ConfigError
from bizbus.connectors.httpbase import CallObserver
from bizbus.connectors.odoo import OdooConnector
from bizbus.connectors.registry import Connector, DialectSettings, Role, build_connector
from bizbus.connectors.salesforce import SalesforceConnector
from bizbus.connectors.settings import load_settings

C = TypeVar("C")

Builder = Callable[[Role, DialectSettings], Connector]
Observers = Callable[[Role], CallObserver]
"""The observer of each role's connector: hears every API exchange (the worker's metrics)."""


def _build(role: Role, choice: DialectSettings) -> Connector:
    return build_connector(role, choice=choice)


class Connections:
    """Lazily opened, shared connectors (one HTTP client per system per worker).

    Args:
        choice: Which dialect serves each role; read (and validated) from the environment when
            None, so a bad `BIZBUS_<ROLE>_DIALECT` stops the worker at start-up.
        build: Makes a role's connector (tests pass fakes); the registry's builder by default.
        observer: Gives each role's connector its API call observer (registry builder only).
    """

    def __init__(
        self,
        choice: DialectSettings | None = None,
        *,
        build: Builder | None = None,
        observer: Observers | None = None,
    ) -> None:
        self.choice = choice or load_settings(DialectSettings)
        if build is None and observer is not None:
            observe = observer

            def build(role: Role, choice: DialectSettings) -> Connector:
                return build_connector(role, choice=choice, observer=observe(role))

        self._build = build or _build
        self._open: dict[Role, Connector] = {}
        self._lock = asyncio.Lock()

    @overload
    async def get(self, role: Role) -> Connector: ...

    @overload
    async def get(self, role: Role, kind: type[C]) -> C: ...

    async def get(self, role: Role, kind: type[object] | None = None) -> object:
        """Return the opened connector of `role`, checked to be a `kind` when one is given.

        Raises:
            ConfigError: Its settings are bad, or the configured dialect does not build a
                `kind` (the flow needs another dialect than `BIZBUS_<ROLE>_DIALECT` names).
        """
        async with self._lock:
            connector = self._open.get(role)
            if connector is None:
                connector = self._build(role, self.choice)
                await connector.__aenter__()
                self._open[role] = connector
        if kind is not None and not isinstance(connector, kind):
            raise self._mismatch(role, kind.__name__, connector)
        return connector

    def _mismatch(self, role: Role, needed: str, connector: object) -> ConfigError:
        variable = f"BIZBUS_{role.upper()}_DIALECT"
        return ConfigError(
            f"this flow needs a {needed} as the {role}, but {variable}="
            f"{self.choice.dialect(role).name} builds a {type(connector).__name__}"
        )

    def calls(self, role: str) -> int:
        """Return the API calls the connector of `role` sent so far (0 when never opened)."""
        connector = self._open.get(cast(Role, role))
        return int(getattr(connector, "calls", 0)) if connector is not None else 0

    async def crm(self) -> SalesforceConnector:
        """Return the CRM connector; the flows that ask for it speak Salesforce."""
        return await self.get("crm", SalesforceConnector)

    async def erp(self) -> OdooConnector:
        """Return the ERP connector; the flows that ask for it speak Odoo."""
        return await self.get("erp", OdooConnector)

    async def oa(self) -> ApprovalConnector:
        """Return the OA connector, of any dialect: flows use it through the OA seam."""
        connector = await self.get("oa")
        if not isinstance(connector, ApprovalConnector):  # the seam's members, checked by name
            raise self._mismatch("oa", ApprovalConnector.__name__, connector)
        return connector

    async def close(self) -> None:
        """Close every opened connector."""
        for connector in self._open.values():
            with contextlib.suppress(Exception):
                await connector.__aexit__(None, None, None)
        self._open.clear()
