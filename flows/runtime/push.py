"""Push feeds: a system's change subscription, run by the worker that owns the system's polls.

The poll owner (the worker the system's ticks reach) keeps one subscription open while its
ticks keep coming (a lease). A reader task takes the subscription's batches into a small queue
(the subscription asks for more only as the queue drains: flow control); each tick drains it
inside the tick's event, as a poll would: every record is published to its feed's `src.*`
topic and awaited until the broker acked it, and only then is the batch's position stored in
the cursor table (`push:<system>`) and each feed's poll cursor moved up to what was pushed, so
a restart resumes after the last acked batch and the safety-net poll re-reads only its overlap.
A batch naming objects it could not list makes the owner poll now (catch-up). Without a stored
position (first start, or one that expired) the subscription starts from the tip and the
catch-up poll runs once its first answer came, so no change falls between the two. Other
failures resubscribe from the stored position after a capped, growing pause; so does a batch
whose publishing failed (the next tick reads it again).
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from bizbus.connectors.base import Cursor
from bizbus.connectors.errors import CursorExpired, IntegrationError
from bizbus.flows.runtime.deadletter import safe_reason
from bizbus.flows.runtime.logs import failed_at
from bizbus.flows.runtime.spec import Emit, Feed, PushBatch, PushSource
from bizbus.schemas import Envelope

log = logging.getLogger("bizbus.push")
MAX_PAUSE_S = 30.0
_EXPIRED = object()  # queued by the reader: the stored position is gone
_SUBSCRIBED = object()  # queued by the reader before a fresh subscription's first batch

RawEvent = Callable[[Feed, Any], Envelope[Any]]


def push_key(system: str) -> str:
    """The cursor-table key of a system's push position."""
    return f"push:{system}"


class PushRunner:
    """One system's subscription on its poll owner.

    Args:
        source: The system's push subscription.
        feeds: The system's feeds with an object (`Feed.entity`); records go to their feed.
        publish: Sends one event and waits for the broker's ack.
        raw_event: Turns a feed's record into its raw `src.*` event (as the poller does).
        cursors: The cursor table (read for the stored position, written while draining).
        catch_up: Makes the owner poll the system now.
        lease_s: Seconds without a tick after which this worker stops reading.
        clock: Monotonic seconds (tests pass their own).
    """

    def __init__(
        self,
        source: PushSource,
        feeds: Sequence[Feed],
        *,
        publish: Callable[[Emit], Awaitable[None]],
        raw_event: RawEvent,
        cursors: Callable[[], Any],
        catch_up: Callable[[], None],
        lease_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.by_entity = {feed.entity: feed for feed in feeds if feed.entity is not None}
        self.publish = publish
        self.raw_event = raw_event
        self.cursors = cursors
        self.catch_up = catch_up
        self.lease_s = lease_s
        self.clock = clock
        self.touched = clock()
        self.pushed = 0  # records published
        self.batches = 0  # batches whose position was stored (keepalives included)
        self.expired = 0  # positions the system no longer kept
        self._queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=2)
        self._catch_up_pending = False
        self._task: asyncio.Task[None] | None = None

    def stored(self) -> bytes | None:
        """The stored position (None: never subscribed, or forgotten after it expired)."""
        text = self.cursors().get(push_key(self.source.system))
        return bytes.fromhex(text) if text else None

    def subscribed(self) -> bool:
        """True once a subscription answered or a position is stored (changes are covered)."""
        return self.batches > 0 or self.stored() is not None

    def owned(self) -> bool:
        """True while this worker's lease on the system holds."""
        return self.clock() - self.touched <= self.lease_s

    async def on_tick(self) -> None:
        """Renew the lease, (re)start the reader, publish what it queued (in the tick event)."""
        self.touched = self.clock()
        if self._task is None or self._task.done():
            self._queue = asyncio.Queue(maxsize=2)
            self._task = asyncio.create_task(
                self._read(self.stored()), name=f"push-{self.source.system}"
            )
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item is _EXPIRED:
                self.cursors()[push_key(self.source.system)] = ""
            elif item is _SUBSCRIBED:
                self._catch_up_pending = True
            elif not await self._delivered(item):
                return
            elif self._catch_up_pending:  # subscribed: what the poll misses, we get
                self._catch_up_pending = False
                self.catch_up()

    async def _delivered(self, batch: PushBatch) -> bool:
        """Publish a batch; on failure resubscribe from the stored position (nothing skipped)."""
        try:
            await self._deliver(batch)
        except Exception as error:  # noqa: BLE001 - logged without its text (records)
            log.warning("%s: publishing pushed changes failed at %s, resubscribing from the "
                        "last stored position: %s", self.source.system, failed_at(error),
                        safe_reason(error))  # fmt: skip
            await self.stop()
            return False
        return True

    async def stop(self) -> None:
        """Close the subscription."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _read(self, position: bytes | None) -> None:
        pause = 1.0
        while self.owned():
            if position is None:
                await self._queue.put(_SUBSCRIBED)
            batches = self.source.open(frozenset(self.by_entity), position)
            try:
                async for batch in batches:
                    if not self.owned():
                        return  # another worker owns the system now: leave it the batch
                    await self._queue.put(batch)
                    position = batch.replay_id or position
                    pause = 1.0
            except CursorExpired as error:
                self.expired += 1
                log.warning("%s: stored push position expired (%s); catching up by polling",
                            self.source.system, safe_reason(error))  # fmt: skip
                await self._queue.put(_EXPIRED)
                position = None
                continue
            except IntegrationError as error:
                log.warning("%s: push subscription failed, resubscribing in %.0f s: %s",
                            self.source.system, pause, safe_reason(error))  # fmt: skip
            except Exception as error:  # noqa: BLE001 - logged without its text (records)
                log.error("%s: push subscription failed unexpectedly at %s: %s",
                          self.source.system, failed_at(error), safe_reason(error))  # fmt: skip
            finally:
                await batches.aclose()
            await asyncio.sleep(pause)
            pause = min(MAX_PAUSE_S, pause * 2)

    async def _deliver(self, batch: PushBatch) -> None:
        cursors = self.cursors()
        high: dict[str, Cursor] = {}
        for record in batch.records:
            feed = self.by_entity.get(record.entity)
            if feed is None:
                continue
            await self.publish(Emit(self.raw_event(feed, record), topic=feed.topic))
            self.pushed += 1
            if feed.name not in high or record.cursor > high[feed.name]:
                high[feed.name] = record.cursor
        for name, cursor in high.items():
            stored = cursors.get(name)
            if not stored or Cursor.from_text(stored) < cursor:
                cursors[name] = cursor.to_text()
        if batch.replay_id:
            cursors[push_key(self.source.system)] = batch.replay_id.hex()
            self.batches += 1
        if batch.catch_up:
            log.info("%s: changes of %s not listed by the subscription; catching up by polling",
                     self.source.system, ", ".join(sorted(batch.catch_up)))  # fmt: skip
            self.catch_up()
