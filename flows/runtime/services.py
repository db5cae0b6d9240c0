"""The worker's own long-running parts beside faust's: holds, seen keys, batch, broadcast, push.

They start once faust's tables are recovered and stop with the app (SIGTERM, Ctrl-C), the batch
loop first so its batch in hand is committed. Readiness asks them what they still wait for
(a system refusing our credentials included: the worker is not ready until it accepts them).
"""

from collections.abc import Awaitable, Callable
from typing import Any

import faust
from mode import Service

from bizbus.flows.runtime.batch_runner import BatchRunner
from bizbus.flows.runtime.broadcast import BroadcastRunner
from bizbus.flows.runtime.gates import Gates
from bizbus.flows.runtime.heap import settle_heap
from bizbus.flows.runtime.holds import HoldStore
from bizbus.flows.runtime.seen import SeenKeys
from bizbus.flows.settings import RuntimeSettings

HOLDS_TOPIC = "dead-letter-holds"


def holds_topic(settings: RuntimeSettings) -> str:
    """Return the compacted topic of the worker group's dead-letter holds."""
    return f"{settings.topic_prefix}{settings.app_id}-{HOLDS_TOPIC}"


class RuntimeServices(Service):
    """Starts and stops the holds store, the seen keys and the batch loop with the faust app."""

    def __init__(
        self,
        holds: HoldStore,
        batch: BatchRunner | None,
        gates: Gates,
        seen: SeenKeys | None = None,
        broadcast: BroadcastRunner | None = None,
        pushes: Callable[[], Awaitable[None]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.holds = holds
        self.batch = batch
        self.gates = gates
        self.seen = seen
        self.broadcast = broadcast
        self.stop_pushes = pushes  # closes the push subscriptions
        self.holds_loaded = False

    async def on_start(self) -> None:
        """Load the holds and the seen keys, then join the batch group."""
        await self.holds.start()
        self.holds_loaded = True
        if self.seen is not None:
            await self.seen.start()
        if self.batch is not None:
            await self.batch.start()
        if self.broadcast is not None:
            await self.broadcast.start()
        settle_heap()  # what start-up made stays for the worker's life: out of the GC's scans

    async def on_stop(self) -> None:
        """Leave the batch group (its batch in hand committed), stop probing, close the maps."""
        if self.stop_pushes is not None:
            await self.stop_pushes()
        if self.broadcast is not None:
            await self.broadcast.stop()
        if self.batch is not None:
            await self.batch.stop()
        await self.gates.close()
        if self.seen is not None:
            await self.seen.stop()
        await self.holds.stop()

    def waiting_for(self) -> list[str]:
        """Return what the services still wait for before the worker may call itself ready."""
        waiting = [] if self.holds_loaded else ["the dead-letter holds"]
        if self.seen is not None and not self.seen.loaded.is_set():
            waiting.append("the seen webhook keys")
        if self.batch is not None and not self.batch.assigned:
            waiting.append("the batch stages' partition assignment")
        if self.broadcast is not None and not self.broadcast.started:
            waiting.append("the broadcast stages' start")
        return waiting

    def refused(self) -> list[str]:
        """Return what keeps a started worker unready: each system refusing our credentials."""
        rejected = [name for name, state in self.gates.states().items() if state == "rejected"]
        return [f"{', '.join(rejected)} to accept our credentials"] if rejected else []


def run_with_app(app: faust.App, services: RuntimeServices) -> Callable[[], Awaitable[None]]:
    """Return an app task that starts `services` as a dependency of the app (stopped with it)."""

    async def start_services() -> None:
        await app.add_runtime_dependency(services)

    return start_services
