"""What every flow is built with: settings, the connectors, the cross-references and a clock.

The worker builds one FlowDeps and hands it, with the flow's own tables, to each flow it runs;
a test builds one from fakes and dicts. Nothing here knows faust.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from bizbus.flows.runtime.faust_adapter import FaustRuntime
from bizbus.flows.runtime.spec import Declaration, Emit, StageSpec
from bizbus.flows.settings import RuntimeSettings
from bizbus.flows.xref import Xref
from bizbus.schemas import Envelope, make_event
from bizbus.schemas.envelope import System
from bizbus.schemas.values import Payload

if TYPE_CHECKING:
    from bizbus.connectors.feishu import FeishuConnector
    from bizbus.connectors.odoo import OdooConnector
    from bizbus.connectors.salesforce import SalesforceConnector


class Systems(Protocol):
    """The connectors flows call, each opened on first use (`flows.connections.Connections`)."""

    async def crm(self) -> "SalesforceConnector":
        """Return the CRM connector."""
        ...

    async def erp(self) -> "OdooConnector":
        """Return the ERP connector."""
        ...

    async def oa(self) -> "FeishuConnector":
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

    def now(self) -> datetime:
        """Return the clock's time as an aware UTC datetime."""
        return datetime.fromtimestamp(self.clock(), UTC)


class FlowContext:
    """Transitional: what flows still written as `register(ctx)` use, over the new runtime."""

    def __init__(self, runtime: "FaustRuntime", deps: FlowDeps) -> None:
        self.runtime = runtime
        self.app = runtime.app
        self.settings = runtime.settings
        self.connections = deps.connections
        self.xref = deps.xref
        self.poller = runtime.poller

    def topic_name(self, logical: str) -> str:
        """Return the physical name of a catalog topic."""
        return self.runtime.topic_name(logical)

    def agent(self, logical_topic: str, handler: Any, *, name: str) -> None:
        """Declare a stage whose handler publishes by itself."""

        async def run(record: Any) -> list[Any]:
            await handler(record)
            return []

        self.runtime.install(Declaration(stages=(StageSpec(name, logical_topic, run),)))

    async def publish(self, event: Envelope[Any], *, topic: str | None = None) -> None:
        """Send `event` and wait for the ack."""
        await self.runtime.publish(Emit(event, topic))


def follow_up(
    payload: Payload, cause: Envelope[Any], *, source: str, origin: System
) -> Envelope[Any]:
    """Return the event `payload` makes as a consequence of `cause`: same deal, caused by it."""
    return make_event(
        payload,
        source=source,
        correlationid=cause.correlationid,
        causationid=cause.id,
        origin=origin,
    )
