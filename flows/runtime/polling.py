"""Change-feed polling: adaptive per feed, batched per call, within each system's API budget.

The leader ticks each system on the fast interval to an internal topic keyed by system; the
ticks topic has several partitions, so the group spreads the systems over its workers and each
system is polled by one worker only. On a tick the owner polls the system's due units (a feed,
or the feeds one call reads: the CRM's Composite request) concurrently; a unit that found
changes polls again after the fast interval, an empty one doubles its interval up to the
system's idle interval. Every record is published as a raw `src.*` event and, once the broker
acked it, its cursor is stored in a table co-partitioned with the ticks (changelogged: a
restarted or rebalanced worker resumes where the last acked record left off).

Push: a system with a `PushSource` whose push is on (Salesforce Change Data Capture) is
polled only as a safety net (its `safety_poll_s`) and to catch up; its owner runs the
subscription while the system's ticks keep reaching it (`push.PushRunner`). A system that
pushes hints (Odoo webhooks, a `HintSource`) is polled once at start, then only as a safety net
and on hints: the worker that got a hint sends `hint:<object>` on the ticks topic, keyed by the
system, and its poll owner hurries the feeds of that object (all the system's feeds when none
carries it); a hint that arrives while a feed is being polled makes it poll again.

API budget: every worker reports the calls its connectors made (`spent:<n>` on the same
topic, keyed by system) and the owner adds them to the system's rolling 24 h ledger, kept in
the cursor table. Polls stop before the ledger would pass the budget and are spread out once
half of it is spent; writes are counted, never refused. A failing poll is logged and retried.
"""

import asyncio
import logging
import math
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from aiokafka.partitioner import DefaultPartitioner

from bizbus.connectors.base import Cursor, SourceRecord
from bizbus.connectors.errors import IntegrationError
from bizbus.flows.runtime.budget import CURSOR_TABLE, ApiBudget, Cadence, budget_key
from bizbus.flows.runtime.deadletter import safe_reason
from bizbus.flows.runtime.faust_glue import dead_letter_sender
from bizbus.flows.runtime.faust_stage import FaustStage
from bizbus.flows.runtime.gates import Gates
from bizbus.flows.runtime.guard import StageGuard
from bizbus.flows.runtime.logs import failed_at
from bizbus.flows.runtime.push import PushRunner
from bizbus.flows.runtime.record import RawRecord
from bizbus.flows.runtime.spec import Emit, Feed, HintSource, Publish, PushSource
from bizbus.flows.runtime.tracing import started_trace, trace_fields
from bizbus.schemas import Envelope, SourceRecordCapturedV1, make_event

log = logging.getLogger("bizbus.polling")
CORRELATION_NAMESPACE = uuid.UUID("6f1c1f6e-5b43-4c1e-9a55-1b1f4f0c0b15")
SPENT = b"spent:"
HINT = b"hint:"
PUSH_TICK_S = 0.25  # tick period of a pushing system: its batches (or hints) wait at most this

System = Literal["crm", "erp", "oa"]
Spent = Callable[[str], int]
"""Calls this process made to a system so far (its connectors' own count; 0 if never opened)."""


def correlation_id(kind: str, key: str) -> str:
    """Return the deterministic correlation id of a business thing (e.g. a CRM order)."""
    return str(uuid.uuid5(CORRELATION_NAMESPACE, f"{kind}:{key}"))


def raw_event(
    system: System,
    record: SourceRecord,
    *,
    correlationid: str | None = None,
    event_id: str | None = None,
) -> Envelope[SourceRecordCapturedV1]:
    """Return the raw `src.*` event of a polled record (its payload untouched).

    `event_id`: the event's id when the source's own id must decide it (a webhook delivery
    published twice is then one event to its consumers); a fresh UUID otherwise.
    """
    payload = SourceRecordCapturedV1(
        system=system,
        object_name=record.entity,
        record_id=record.id,
        change_type="delete" if record.deleted else None,
        modified_at=record.modified_at,
        record=dict(record.payload),
    )
    key = payload.entity_key()
    # A change entering bizbus starts its trace (under the webhook's span when pushed).
    with started_trace(f"capture {system} {record.entity}"):
        return make_event(
            payload,
            source=f"bizbus://{system}/{record.entity}",
            correlationid=correlationid or correlation_id(system, key),
            origin=system,
            id=event_id,
            **trace_fields(),
        )


def feed_event(feed: Feed, record: SourceRecord) -> Envelope[SourceRecordCapturedV1]:
    """Return the raw event of a feed's record (with its deal's correlation id, if any)."""
    deal = feed.correlate(record) if feed.correlate else None
    return raw_event(feed.system, record, correlationid=deal)


def _no_calls(_: str) -> int:
    return 0


class Poller:
    """Owns the feeds, the tick timer, the poll agent, the cursor table and the API ledgers.

    Args:
        app: The faust App to declare them on.
        ticks_topic: The internal topic of the leader's ticks (with the topic prefix).
        interval_s: The fast interval: seconds between polls of a feed that just found changes.
        partitions: Partitions of the ticks topic and the cursor table (systems spread over them).
        publish: Sends one event and waits for the broker's ack.
        gates: The worker's system gates (the poll agent's guard needs them; polls never raise).
        idle_s: Longest interval per system once idle; `interval_s` for a system not named.
        budgets: Daily API budget per system (None or absent: unlimited, still counted).
        spent: Calls this process made to a system so far.
        clock: Monotonic seconds (cadences, pacing); wall: Unix seconds (the ledgers). Tests
            pass their own.
        pushes: The systems' push subscriptions (each used only where its push is on).
        hints: The systems that push hints by webhook (each used only where its push is on).
    """

    def __init__(
        self,
        app: Any,
        *,
        ticks_topic: str,
        interval_s: float,
        partitions: int,
        publish: Publish,
        gates: Gates,
        idle_s: Mapping[str, float] | None = None,
        budgets: Mapping[str, int | None] | None = None,
        spent: Spent = _no_calls,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        pushes: Sequence[PushSource] = (),
        hints: Sequence[HintSource] = (),
    ) -> None:
        self.app = app
        self._ticks_topic = ticks_topic
        self.interval_s = interval_s
        self.partitions = partitions
        self.publish = publish
        self.gates = gates
        self.idle_s = dict(idle_s or {})
        self.budgets = dict(budgets or {})
        self.spent = spent
        self.clock = clock
        self.wall = wall
        self.feeds: dict[str, Feed] = {}
        self.cadences: dict[str, Cadence] = {}  # by poll unit (feed name or batch name)
        self._last_poll_ms: dict[str, int] = {}
        self._reported: Counter[str] = Counter()  # calls already added to some ledger
        self._held_until: dict[str, float] = {}  # budget pacing, by system (monotonic)
        self._throttled: dict[str, str] = {}  # what the log last said, by system
        self.polled = 0
        self.passes: Counter[str] = Counter()  # poll passes finished (or failed) per feed
        self.held: set[str] = set()  # feeds whose system the budget kept from polling
        self.ledgers: dict[str, ApiBudget] = {}  # as last seen by this worker, by system
        self.cursors: Any = None
        self._ticks: Any = None
        self.pushes: dict[str, PushSource] = {source.system: source for source in pushes}
        self.push_runners: dict[str, PushRunner] = {}
        self.hinted: dict[str, HintSource] = {source.system: source for source in hints}
        self.hints = 0  # hints this worker's poll agent took
        self._hinted_at: dict[str, int] = {}  # by poll unit: the number of its last hint
        self.safety_s: dict[str, float | None] = {}  # by system: push on (its safety poll) or not

    def settled(self) -> dict[str, int]:
        """Passes per feed for readiness (held back by the budget, or pushed: polled once)."""
        pushing = {system for system, runner in self.push_runners.items() if runner.subscribed()}
        return {
            name: self.passes[name] or int(name in self.held or feed.system in pushing)
            for name, feed in self.feeds.items()
        }

    def ticks_topic(self) -> str:
        """Return the name of the internal topic the leader sends poll ticks to."""
        return self._ticks_topic

    def add(self, feed: Feed) -> None:
        """Register a feed (call before `register`)."""
        self.feeds[feed.name] = feed

    def systems(self) -> list[str]:
        """Return the systems with at least one feed."""
        return sorted({feed.system for feed in self.feeds.values()})

    def tick_partition(self, name: str) -> int:
        """Return the ticks partition of feed (or system) `name`: its system's partition."""
        feed = self.feeds.get(name)
        key = feed.system if feed is not None else name
        partitions = list(range(self.partitions))
        return int(DefaultPartitioner()(key.encode(), partitions, partitions))

    def interval_of(self, feed: Feed) -> float:
        """Return the fast interval of `feed` (after a poll that found changes)."""
        return feed.interval_s if feed.interval_s is not None else self.interval_s

    def unit_of(self, feed: Feed) -> str:
        """Return the poll unit of `feed`: its batch, or itself."""
        return f"{feed.system}:{feed.batch.name}" if feed.batch is not None else feed.name

    def cadence(self, feed: Feed) -> Cadence:
        """Return the cadence of `feed`'s poll unit (made on first use: due at once)."""
        unit = self.unit_of(feed)
        if unit not in self.cadences:
            fast = self.interval_of(feed)
            safety = self.safety_s.get(feed.system)
            if safety is None:
                self.cadences[unit] = Cadence(fast, self.idle_s.get(feed.system, fast))
            elif feed.system in self.pushes:  # the push runner's catch-up hurries it
                self.cadences[unit] = Cadence(safety, safety, due=self.clock() + safety)
            else:  # hinted: one catch-up poll at start, then safety polls and hints
                self.cadences[unit] = Cadence(safety, safety, due=self.clock())
        return self.cadences[unit]

    def hurry(self, system: str) -> None:
        """Poll `system`'s feeds fast again (a push hint, or a write made to it)."""
        now = self.clock()
        for feed in self.feeds.values():
            if feed.system == system:
                self.cadence(feed).hurry(now)

    def hint(self, system: str, entity: str) -> None:
        """Poll the feeds of `system` that carry `entity` now (all its feeds when none does)."""
        feeds = [feed for feed in self.feeds.values() if feed.system == system]
        named = [feed for feed in feeds if feed.entity == entity]
        now = self.clock()
        self.hints += 1
        for feed in named or feeds:
            self._hinted_at[self.unit_of(feed)] = self.hints
            self.cadence(feed).hurry(now)

    async def send_hint(self, system: str, entity: str) -> bool:
        """Tell `system`'s poll owner that `entity` changed; False when nothing polls it here."""
        if self._ticks is None or not any(f.system == system for f in self.feeds.values()):
            return False
        await self._ticks.send(key=system.encode(), value=HINT + entity.encode())
        return True

    def register(self) -> None:
        """Declare the ticks topic, cursor table, timers and agent (once all feeds are added)."""
        if not self.feeds:
            return
        app = self.app
        ticks = self._ticks = app.topic(
            self.ticks_topic(),
            key_serializer="raw",
            value_serializer="raw",
            partitions=self.partitions,
            internal=True,
        )
        self.cursors = app.Table(CURSOR_TABLE, default=None, partitions=self.partitions)
        fastest = min(self.interval_of(feed) for feed in self.feeds.values())
        systems = self.systems()

        period = max(0.05, fastest / 2)
        # A pushing system's batches are published on its ticks, and a hinted system's hints
        # polled on them: it is ticked every 0.25 s (a tick with nothing due calls nothing).
        push_period = min(period, PUSH_TICK_S) if self.pushes or self.hinted else period
        sent: dict[str, float] = {}

        async def send_ticks() -> None:
            stamp = str(int(self.wall() * 1000)).encode()
            now = self.clock()
            for system in systems:
                if system in self.pushes.keys() | self.hinted.keys() and not await self._learn(
                    system
                ):
                    continue  # retried on the next timer
                every = push_period if self.safety_s.get(system) is not None else period
                if now - sent.get(system, -math.inf) < every * 0.9:
                    continue
                sent[system] = now
                await ticks.send(key=system.encode(), value=stamp)

        async def report_calls() -> None:
            for system in systems:
                if calls := self._unreported(system):
                    await ticks.send(key=system.encode(), value=SPENT + str(calls).encode())

        app.timer(push_period, on_leader=True)(send_ticks)
        app.timer(max(1.0, fastest))(report_calls)  # every worker: its sinks' calls count too
        guard = StageGuard(
            "poll", systems=frozenset(), gates=self.gates, holds=None,
            dead_letter=dead_letter_sender(app),
        )  # fmt: skip
        stage = FaustStage(
            app, self.ticks_topic(), guard, self._on_tick_record,
            max_in_flight=len(systems) + 1, high_water=4 * len(self.feeds) + 64,
        )  # fmt: skip

        async def poll(stream: Any) -> None:
            await stage.agent(stream)

        app.agent(ticks, name="poll")(poll)

    def _unreported(self, system: str) -> int:
        calls = self.spent(system) - self._reported[system]
        self._reported[system] += max(0, calls)
        return max(0, calls)

    async def _on_tick_record(self, record: RawRecord) -> None:
        system, value = (record.key or b"").decode(), record.value or b"0"
        if value.startswith(SPENT):
            self._add_calls(system, int(value.removeprefix(SPENT) or b"0"))
        elif value.startswith(HINT):
            self.hint(system, value.removeprefix(HINT).decode())
        else:
            await self._on_tick(system, int(value))

    def ledger(self, system: str) -> ApiBudget:
        """Return `system`'s ledger as stored in the cursor table (this worker owns `system`)."""
        stored = self.cursors.get(budget_key(system)) if self.cursors is not None else None
        ledger = ApiBudget.from_json(stored, limit=self.budgets.get(system))
        self.ledgers[system] = ledger
        return ledger

    def budget_report(self) -> dict[str, tuple[int, int | None]]:
        """Calls in the last 24 h and the budget of each system whose ledger this worker read."""
        wall = self.wall()
        return {name: (ledger.spent(wall), ledger.limit) for name, ledger in self.ledgers.items()}

    def _add_calls(self, system: str, calls: int) -> None:
        if calls <= 0 or self.cursors is None:
            return
        ledger = self.ledger(system)
        ledger.record(self.wall(), calls)
        self.cursors[budget_key(system)] = ledger.to_json()

    async def _on_tick(self, system: str, sent_ms: int) -> None:
        if sent_ms < self._last_poll_ms.get(system, 0):
            return  # a tick that queued up behind a poll that already ran
        self._last_poll_ms[system] = int(self.wall() * 1000)
        if system in self.pushes:
            await self._push(system)
        elif system in self.hinted and not await self._learn(system):
            return  # push or poll is not known yet on this owner (the leader may differ)
        now = self.clock()
        due = [f for f in self.feeds.values() if f.system == system and self.cadence(f).is_due(now)]
        if not due:
            return
        if not self._budget_allows(system, now):
            self.held.update(feed.name for feed in due)
            return
        units: dict[str, list[Feed]] = {}
        for feed in due:
            units.setdefault(self.unit_of(feed), []).append(feed)
        await asyncio.gather(*(self._poll_unit(feeds) for feeds in units.values()))
        calls = self._unreported(system)
        self._add_calls(system, calls)
        pace = self.ledger(system).pace_s(self.wall())
        self._held_until[system] = self.clock() + min(pace * max(calls, 1), 86_400.0)

    async def _learn(self, system: str) -> bool:
        """Learn once whether `system` pushes (safety-poll interval) or polls; False: unknown."""
        if system in self.safety_s:
            return True
        source = self.pushes.get(system) or self.hinted[system]
        try:
            self.safety_s[system] = await source.safety_poll_s()
        except IntegrationError as error:
            log.warning("%s: cannot tell push from poll yet: %s", system, safe_reason(error))
            return False
        for feed in self.feeds.values():
            if feed.system == system:
                self.cadences.pop(self.unit_of(feed), None)
        return True

    async def _push(self, system: str) -> None:
        """If `system` pushes, renew this owner's subscription and publish what it brought."""
        if not await self._learn(system) or self.safety_s[system] is None:
            return
        runner = self.push_runners.get(system)
        if runner is None:
            fastest = min(self.interval_of(f) for f in self.feeds.values() if f.system == system)
            runner = self.push_runners[system] = PushRunner(
                self.pushes[system], [f for f in self.feeds.values() if f.system == system],
                publish=self.publish, raw_event=feed_event, cursors=lambda: self.cursors,
                catch_up=lambda: self.hurry(system), lease_s=max(5.0, 10 * fastest),
                clock=self.clock,
            )  # fmt: skip
        await runner.on_tick()

    async def stop_pushes(self) -> None:
        """Close every push subscription (the worker stops)."""
        for runner in self.push_runners.values():
            await runner.stop()

    def _budget_allows(self, system: str, now: float) -> bool:
        ledger = self.ledger(system)
        wall = self.wall()
        spent, limit = ledger.spent(wall), ledger.limit
        if not ledger.allows(wall, 1):
            when = time.strftime("%H:%M UTC", time.gmtime(ledger.frees_at(wall)))
            self._say(
                system, "stopped", "%s: daily API budget spent (%d of %d calls in 24 h); "
                "polling stops until calls free up (from %s)", system, spent, limit, when,
            )  # fmt: skip
            return False
        if now < self._held_until.get(system, 0.0):
            pace = ledger.pace_s(wall)
            every = "stopped" if math.isinf(pace) else f"at most one call every {pace:.0f} s"
            self._say(
                system, "slowed", "%s: %d of %d daily API calls spent; polling slowed (%s)",
                system, spent, limit, every,
            )  # fmt: skip
            return False
        if self._throttled.pop(system, None) is not None:
            log.info("%s: API budget no longer throttles polling (%d of %s)", system, spent, limit)
        return True

    def _say(self, system: str, state: str, message: str, *args: Any) -> None:
        if self._throttled.get(system) != state:
            self._throttled[system] = state
            log.warning(message, *args)

    async def _poll_unit(self, feeds: list[Feed]) -> None:
        cadence = self.cadence(feeds[0])
        hints_before = self.hints
        batch = feeds[0].batch
        if batch is not None:
            since = {f.batch.key: self._since(f) for f in feeds if f.batch is not None}
            try:
                await batch.prefetch(since)
            except IntegrationError as error:
                log.warning("batched read of %s failed: %s", batch.name, safe_reason(error))
            except Exception as error:  # noqa: BLE001 - logged without its text (records)
                log.error(
                    "batched read of %s failed unexpectedly at %s: %s",
                    batch.name, failed_at(error), safe_reason(error),
                )  # fmt: skip
        found = await asyncio.gather(*(self._on_feed(feed) for feed in feeds))
        cadence.polled(self.clock(), found=any(found))
        if self._hinted_at.get(self.unit_of(feeds[0]), 0) > hints_before:
            cadence.hurry(self.clock())  # a hint came while polling: its change may be after

    async def _on_feed(self, feed: Feed) -> bool:
        published = 0
        try:
            published = await self.poll(feed)
        except IntegrationError as error:
            log.warning("poll of %s failed, next tick retries: %s", feed.name, safe_reason(error))
        except Exception as error:  # noqa: BLE001 - logged without its text: it may hold records
            log.error(
                "poll of %s failed unexpectedly at %s: %s",
                feed.name, failed_at(error), safe_reason(error),
            )  # fmt: skip
        self.passes[feed.name] += 1
        return published > 0

    def _since(self, feed: Feed) -> Cursor | None:
        stored = self.cursors.get(feed.name)  # a table without default raises KeyError
        return Cursor.from_text(stored) if stored else None

    async def poll(self, feed: Feed) -> int:
        """Publish the feed's changes since its cursor; return how many were published."""
        published = 0
        async for record in feed.read(self._since(feed)):
            await self.publish(Emit(feed_event(feed, record), topic=feed.topic))
            self.cursors[feed.name] = record.cursor.to_text()
            published += 1
        self.polled += published
        return published
