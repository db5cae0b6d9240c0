"""Change-feed polling: the leader ticks, one agent polls, cursors advance only after acks.

A leader-only timer sends a tick per feed to an internal topic; the poll agent takes each tick,
reads the feed's changes since its cursor, publishes every record as a raw `src.*` event and,
once the broker acked it, stores the record's cursor in a table (changelogged, so a restarted
or rebalanced worker resumes where the last acked record left off). Ticks that queued up while
a poll ran are skipped. A failing poll is logged and retried on the next tick.
"""

import logging
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Literal

from bizbus.connectors.base import Cursor, SourceRecord
from bizbus.connectors.errors import IntegrationError
from bizbus.flows.context import FlowContext
from bizbus.flows.runtime.deadletter import safe_reason
from bizbus.schemas import Envelope, SourceRecordCapturedV1, make_event

log = logging.getLogger("bizbus.polling")
CORRELATION_NAMESPACE = uuid.UUID("6f1c1f6e-5b43-4c1e-9a55-1b1f4f0c0b15")

System = Literal["crm", "erp", "oa"]
ReadChanges = Callable[[Cursor | None], AsyncIterator[SourceRecord]]
Correlate = Callable[[SourceRecord], str | None]


def correlation_id(kind: str, key: str) -> str:
    """Return the deterministic correlation id of a business thing (e.g. a CRM order)."""
    return str(uuid.uuid5(CORRELATION_NAMESPACE, f"{kind}:{key}"))


@dataclass(frozen=True)
class Feed:
    """One change feed and where its raw records go.

    `name` is its cursor key; `read(since)` yields the changes after `since` once, then ends.
    """

    name: str
    system: System
    topic: str
    read: ReadChanges
    # The deal a record belongs to, when the record says (e.g. a CRM order id): its raw event
    # then carries the deal's correlation id, so `bizbus trace` finds it with the deal.
    correlate: Correlate | None = None


def raw_event(
    system: System, record: SourceRecord, *, correlationid: str | None = None
) -> Envelope[SourceRecordCapturedV1]:
    """Return the raw `src.*` event of a polled record (its payload untouched)."""
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
    )


class Poller:
    """Owns the feeds, the tick timer, the poll agent and the cursor table."""

    def __init__(self, ctx: FlowContext) -> None:
        self.ctx = ctx
        self.feeds: dict[str, Feed] = {}
        self._last_poll_ms: dict[str, int] = {}
        self.polled = 0
        self.passes: Counter[str] = Counter()  # poll passes finished (or failed) per feed
        self.cursors: Any = None

    def ticks_topic(self) -> str:
        """Return the name of the internal topic the leader sends poll ticks to."""
        return f"{self.ctx.settings.topic_prefix}{self.ctx.app.conf.id}-poll-ticks"

    def add(self, feed: Feed) -> None:
        """Register a feed (call before `register`)."""
        self.feeds[feed.name] = feed

    def register(self) -> None:
        """Declare the ticks topic, cursor table, timer and agent (once all feeds are added).

        Nothing is declared without feeds, or when BIZBUS_STAGES leaves out the `poll` stage.
        """
        if not self.feeds:
            return
        self.ctx.declared_stages.add("poll")
        if not self.ctx.runs("poll"):
            return
        app = self.ctx.app
        ticks = app.topic(
            self.ticks_topic(),
            key_serializer="raw",
            value_serializer="raw",
            partitions=1,
            internal=True,
        )
        self.cursors = app.Table("poll-cursors", default=None, partitions=1)

        async def send_ticks() -> None:
            now = str(int(time.time() * 1000)).encode()
            for name in self.feeds:
                await ticks.send(key=name.encode(), value=now)

        app.timer(self.ctx.settings.poll_interval_s, on_leader=True)(send_ticks)

        async def poll_agent(stream: Any) -> None:
            async for event in stream.events():
                await self._on_tick(event.key.decode(), int(event.value))

        app.agent(ticks, name="poll")(poll_agent)

    async def _on_tick(self, name: str, sent_ms: int) -> None:
        feed = self.feeds.get(name)
        if feed is None or sent_ms < self._last_poll_ms.get(name, 0):
            return  # unknown feed, or a tick that queued up behind a poll that already ran
        self._last_poll_ms[name] = int(time.time() * 1000)
        try:
            await self.poll(feed)
        except IntegrationError as error:
            log.warning("poll of %s failed, next tick retries: %s", name, safe_reason(error))
        except Exception as error:
            log.exception("poll of %s failed unexpectedly: %s", name, safe_reason(error))
        self.passes[name] += 1

    async def poll(self, feed: Feed) -> int:
        """Publish the feed's changes since its cursor; return how many were published."""
        stored = self.cursors.get(feed.name)  # a table without default raises KeyError
        since = Cursor.from_text(stored) if stored else None
        published = 0
        async for record in feed.read(since):
            deal = feed.correlate(record) if feed.correlate else None
            event = raw_event(feed.system, record, correlationid=deal)
            await self.ctx.publish(event, topic=feed.topic)
            self.cursors[feed.name] = record.cursor.to_text()
            published += 1
        self.polled += published
        return published
