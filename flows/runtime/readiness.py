"""When a worker is ready: assigned, its partitions fetched, every feed it polls polled once.

faust says "Ready" when its services have started, which can be before the group assigned any
partition and long before a change feed was read. bizbus means more: the rebalance completed
(tables recovered), the consumer holds a fetch position for every partition it was assigned,
and each feed whose tick partition this worker holds finished one poll (or failed and logged
why); a feed another worker of the group polls is not waited for. The worker logs
`bizbus worker ready` once that start is done. `GET /readyz` (alias `/bizbus/ready/`) answers
200 once started and while no system it needs refuses its credentials (`refused`), 503 else,
and goes back to waiting on every rebalance. `GET /healthz` says the process is alive: its
event loop answers and its tasks ran within `ALIVE_WITHIN_S`. Probes need no credentials, so
the bare answers are only `{"ready": ...}` / `{"alive": ...}`; with the token, the details.
"""

import asyncio
import logging
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import faust
from aiokafka.errors import KafkaError
from faust.exceptions import NotReady

from bizbus.flows.runtime.web import Access, WebSurface

log = logging.getLogger("bizbus.readiness")
READY_LOG = "bizbus worker ready"
READY_PATH = "/bizbus/ready/"
READYZ_PATH = "/readyz"
HEALTHZ_PATH = "/healthz"
ALIVE_WITHIN_S = 30.0
CHECK_INTERVAL_S = 0.25
POSITION_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class FeedProgress:
    """What readiness needs of the poller: tick topic, feeds, passes, each feed's partition."""

    ticks_topic: str
    feeds: Callable[[], Collection[str]]
    passes: Callable[[], Mapping[str, int]]
    partition_of: Callable[[str], int]
    """The ticks partition a feed's ticks go to: the worker holding it polls the feed."""


@dataclass
class ReadyState:
    """Whether the worker is ready and, if not, what it waits for."""

    ready: bool = False
    waiting_for: list[str] = field(default_factory=list)
    assigned_partitions: int = 0
    feeds_polled: int = 0
    ready_after_s: float | None = None
    poll_passes: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Return the state as the readiness endpoint shows it."""
        return {
            "ready": self.ready,
            "waiting_for": self.waiting_for,
            "assigned_partitions": self.assigned_partitions,
            "feeds_polled": self.feeds_polled,
            "ready_after_s": self.ready_after_s,
            "poll_passes": self.poll_passes,
        }


class Readiness:
    """Watches the app and the poller, logs the moment the worker is ready, serves the state."""

    def __init__(
        self,
        app: faust.App,
        web: WebSurface,
        feeds: FeedProgress | None = None,
        *,
        extra: Callable[[], list[str]] | None = None,
        refused: Callable[[], list[str]] | None = None,
    ) -> None:
        self.app = app
        self.web = web
        self.feeds = feeds
        self.extra = extra or list
        self.refused = refused or list
        self.started = False  # assigned, fetched, polled: what the ready log line announces
        self.state = ReadyState(waiting_for=["partition assignment"])
        self._began = time.monotonic()
        self.heartbeat = self._began  # the watcher's last pass
        self._rebalanced = False
        self._fetched: set[Any] = set()

    def register(self) -> None:
        """Connect to the app's rebalance signals, start the watcher, add the endpoint."""
        self.app.on_partitions_revoked.connect(self._on_revoked)
        self.app.on_rebalance_complete.connect(self._on_rebalance_complete)
        self.app.task(self._watch)
        self.app.task(self._beat)
        readiness = self
        web = self.web
        for path, name in ((READY_PATH, "bizbus-ready"), (READYZ_PATH, "bizbus-readyz")):
            web.allow(path, Access.PROBE)

            class ReadyView(faust.web.View):
                async def get(self, request: Any, **_: Any) -> Any:
                    state = readiness.state
                    shown = state.as_dict() if web.authorized(request) else {"ready": state.ready}
                    return self.json(shown, status=200 if state.ready else 503)

            self.app.page(path, name=name)(ReadyView)
        web.allow(HEALTHZ_PATH, Access.PROBE)

        class AliveView(faust.web.View):
            async def get(self, request: Any, **_: Any) -> Any:
                alive = readiness.alive()
                return self.json({"alive": alive}, status=200 if alive else 503)

        self.app.page(HEALTHZ_PATH, name="bizbus-healthz")(AliveView)

    def alive(self) -> bool:
        """Whether the watcher ran lately (the caller's answer shows the event loop runs)."""
        return time.monotonic() - self.heartbeat < ALIVE_WITHIN_S

    async def _on_revoked(self, *_: Any, **__: Any) -> None:
        self._rebalanced = False

    async def _on_rebalance_complete(self, *_: Any, **__: Any) -> None:
        self._rebalanced = True

    async def _beat(self) -> None:
        while not self.app.should_stop:
            self.heartbeat = time.monotonic()
            await asyncio.sleep(1.0)

    async def _watch(self) -> None:
        while not self.app.should_stop:
            state = await self._check()
            if state.ready and not self.started:
                state.ready_after_s = round(time.monotonic() - self._began, 2)
                log.info(
                    "%s in %.1f s: %d partition(s) assigned and fetched, %d feed(s) polled",
                    READY_LOG,
                    state.ready_after_s,
                    state.assigned_partitions,
                    state.feeds_polled,
                )
            elif state.ready:
                state.ready_after_s = self.state.ready_after_s
            self.started = state.ready
            if refused := self.refused():  # started, but not to be sent work it would hold
                state.ready = False
                state.waiting_for = [*state.waiting_for, *refused]
            if self.state.ready and not state.ready:
                log.info("bizbus worker waiting again: %s", "; ".join(state.waiting_for))
            self.state = state
            await asyncio.sleep(CHECK_INTERVAL_S)

    async def _check(self) -> ReadyState:
        if not self._rebalanced or self.app.rebalancing:
            self._fetched.clear()
            return ReadyState(waiting_for=["partition assignment and table recovery"])
        assigned = set(self.app.consumer.assignment())
        self._fetched &= assigned
        for tp in assigned - self._fetched:
            if await self._has_position(tp):
                self._fetched.add(tp)
        waiting = list(self.extra())
        if unfetched := len(assigned - self._fetched):
            waiting.append(f"fetch positions of {unfetched} partition(s)")
        passes: dict[str, int] = {}
        if self.feeds is not None:
            ticks = {tp.partition for tp in assigned if tp.topic == self.feeds.ticks_topic}
            mine = [name for name in self.feeds.feeds() if self.feeds.partition_of(name) in ticks]
            passes = {name: self.feeds.passes().get(name, 0) for name in mine}
            if unpolled := sorted(name for name, count in passes.items() if not count):
                waiting.append(f"a first poll of {', '.join(unpolled)}")
        return ReadyState(
            ready=not waiting,
            waiting_for=waiting,
            assigned_partitions=len(assigned),
            feeds_polled=sum(1 for count in passes.values() if count),
            poll_passes=passes,
        )

    async def _has_position(self, tp: Any) -> bool:
        try:
            position = await asyncio.wait_for(self.app.consumer.position(tp), POSITION_TIMEOUT_S)
        except (TimeoutError, KafkaError, NotReady):  # revoked or not started: check again later
            return False
        return position is not None
