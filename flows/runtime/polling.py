"""Change-feed polling: the leader ticks each feed on its own interval, feeds poll concurrently.

A leader-only timer sends a tick, keyed by feed, to an internal topic whenever a feed is due;
the ticks topic has several partitions, so the group spreads the feeds over its workers and
each feed is polled by one worker only. The poll agent runs the feeds concurrently (per-key
lanes: one poll at a time per feed, a slow feed holds no other): it reads the feed's changes
since its cursor, publishes every record as a raw `src.*` event and, once the broker acked it,
stores the record's cursor in a table co-partitioned with the ticks (changelogged: a restarted
or rebalanced worker resumes where the last acked record left off). Ticks that queued up while
a poll ran are skipped. A failing poll is logged and retried on the next tick.
"""

import logging
import time
import uuid
from collections import Counter
from typing import Any, Literal

from aiokafka.partitioner import DefaultPartitioner

from bizbus.connectors.base import Cursor, SourceRecord
from bizbus.connectors.errors import IntegrationError
from bizbus.flows.runtime.deadletter import safe_reason
from bizbus.flows.runtime.faust_glue import dead_letter_sender
from bizbus.flows.runtime.faust_stage import FaustStage
from bizbus.flows.runtime.gates import Gates
from bizbus.flows.runtime.guard import StageGuard
from bizbus.flows.runtime.logs import failed_at
from bizbus.flows.runtime.record import RawRecord
from bizbus.flows.runtime.spec import Emit, Feed, Publish
from bizbus.schemas import Envelope, SourceRecordCapturedV1, make_event

log = logging.getLogger("bizbus.polling")
CORRELATION_NAMESPACE = uuid.UUID("6f1c1f6e-5b43-4c1e-9a55-1b1f4f0c0b15")

System = Literal["crm", "erp", "oa"]


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
    return make_event(
        payload,
        source=f"bizbus://{system}/{record.entity}",
        correlationid=correlationid or correlation_id(system, key),
        origin=system,
        id=event_id,
    )


class Poller:
    """Owns the feeds, the tick timer, the poll agent and the cursor table.

    Args:
        app: The faust App to declare them on.
        ticks_topic: The internal topic of the leader's ticks (with the topic prefix).
        interval_s: Seconds between two polls of a feed that names no interval of its own.
        partitions: Partitions of the ticks topic and the cursor table (feeds spread over them).
        publish: Sends one event and waits for the broker's ack.
        gates: The worker's system gates (the poll agent's guard needs them; polls never raise).
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
    ) -> None:
        self.app = app
        self._ticks_topic = ticks_topic
        self.interval_s = interval_s
        self.partitions = partitions
        self.publish = publish
        self.gates = gates
        self.feeds: dict[str, Feed] = {}
        self._due: dict[str, float] = {}
        self._last_poll_ms: dict[str, int] = {}
        self.polled = 0
        self.passes: Counter[str] = Counter()  # poll passes finished (or failed) per feed
        self.cursors: Any = None

    def ticks_topic(self) -> str:
        """Return the name of the internal topic the leader sends poll ticks to."""
        return self._ticks_topic

    def add(self, feed: Feed) -> None:
        """Register a feed (call before `register`)."""
        self.feeds[feed.name] = feed

    def tick_partition(self, name: str) -> int:
        """Return the ticks partition the ticks of feed `name` go to (the producer's choice)."""
        partitions = list(range(self.partitions))
        return int(DefaultPartitioner()(name.encode(), partitions, partitions))

    def interval_of(self, feed: Feed) -> float:
        """Return the seconds between two polls of `feed`."""
        return feed.interval_s if feed.interval_s is not None else self.interval_s

    def register(self) -> None:
        """Declare the ticks topic, cursor table, timer and agent (once all feeds are added)."""
        if not self.feeds:
            return
        app = self.app
        ticks = app.topic(
            self.ticks_topic(),
            key_serializer="raw",
            value_serializer="raw",
            partitions=self.partitions,
            internal=True,
        )
        self.cursors = app.Table("poll-cursors", default=None, partitions=self.partitions)
        every = max(0.05, min(self.interval_of(feed) for feed in self.feeds.values()) / 2)

        async def send_due_ticks() -> None:
            now = time.monotonic()
            stamp = str(int(time.time() * 1000)).encode()
            for name, feed in self.feeds.items():
                if self._due.get(name, 0.0) <= now:
                    self._due[name] = now + self.interval_of(feed)
                    await ticks.send(key=name.encode(), value=stamp)

        app.timer(every, on_leader=True)(send_due_ticks)
        guard = StageGuard(
            "poll", systems=frozenset(), gates=self.gates, holds=None,
            dead_letter=dead_letter_sender(app),
        )  # fmt: skip
        stage = FaustStage(
            app, self.ticks_topic(), guard, self._on_tick_record,
            max_in_flight=len(self.feeds), high_water=4 * len(self.feeds) + 64,
        )  # fmt: skip

        async def poll(stream: Any) -> None:
            await stage.agent(stream)

        app.agent(ticks, name="poll")(poll)

    async def _on_tick_record(self, record: RawRecord) -> None:
        await self._on_tick((record.key or b"").decode(), int(record.value or b"0"))

    async def _on_tick(self, name: str, sent_ms: int) -> None:
        feed = self.feeds.get(name)
        if feed is None or sent_ms < self._last_poll_ms.get(name, 0):
            return  # unknown feed, or a tick that queued up behind a poll that already ran
        self._last_poll_ms[name] = int(time.time() * 1000)
        try:
            await self.poll(feed)
        except IntegrationError as error:
            log.warning("poll of %s failed, next tick retries: %s", name, safe_reason(error))
        except Exception as error:  # noqa: BLE001 - logged without its text: it may hold records
            log.error(
                "poll of %s failed unexpectedly at %s: %s",
                name, failed_at(error), safe_reason(error),
            )  # fmt: skip
        self.passes[name] += 1

    async def poll(self, feed: Feed) -> int:
        """Publish the feed's changes since its cursor; return how many were published."""
        stored = self.cursors.get(feed.name)  # a table without default raises KeyError
        since = Cursor.from_text(stored) if stored else None
        published = 0
        async for record in feed.read(since):
            deal = feed.correlate(record) if feed.correlate else None
            event = raw_event(feed.system, record, correlationid=deal)
            await self.publish(Emit(event, topic=feed.topic))
            self.cursors[feed.name] = record.cursor.to_text()
            published += 1
        self.polled += published
        return published
