"""What every flow is built with: settings, the connectors, the cross-references and a clock.

The worker builds one FlowDeps and hands it, with the flow's own tables, to each flow it runs;
a test builds one from fakes and dicts. Nothing here knows faust.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from bizbus.flows.runtime.metrics import FlowMetrics
from bizbus.flows.settings import RuntimeSettings
from bizbus.flows.xref import Xref
from bizbus.schemas import KeyRing

if TYPE_CHECKING:
    from bizbus.connectors.approvals import ApprovalConnector
    from bizbus.connectors.odoo import OdooConnector
    from bizbus.connectors.salesforce import SalesforceConnector
    from bizbus.flows.runtime.seen import SeenKeys


class Systems(Protocol):
    """The connectors flows call, each opened on first use (`flows.connections.Connections`)."""

    async def crm(self) -> "SalesforceConnector":
        """Return the CRM connector."""
        ...

    async def erp(self) -> "OdooConnector":
        """Return the ERP connector."""
        ...

    async def oa(self) -> "ApprovalConnector":
        """Return the OA connector."""
        ...


@dataclass(frozen=True)
class FlowDeps:
    """A flow's dependencies, explicit so that a test can hand in its own."""

    connections: Systems
    xref: Xref
    settings: RuntimeSettings = field(default_factory=RuntimeSettings)
    clock: Callable[[], float] = time.time
    """Seconds since the epoch; a test freezes or moves it."""
    seen: "SeenKeys | None" = None
    """Webhook dedupe keys every worker shares (None: each connector's own in-memory cache)."""
    keys: KeyRing | None = None
    """Open the personal fields of the records flows decode (None: records in clear only)."""
    metrics: FlowMetrics = field(default_factory=FlowMetrics)
    """Where flows count echoes and conflicts and export gauges (the worker's `/metrics`)."""

    def now(self) -> datetime:
        """Return the clock's time as an aware UTC datetime."""
        return datetime.fromtimestamp(self.clock(), UTC)
