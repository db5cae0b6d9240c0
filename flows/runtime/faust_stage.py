"""A stage on faust: per-key lanes, the stage guard, manual acks, fetching paused on backlog.

faust feeds every agent from one conductor, and an agent that stops taking events stalls all of
them once its buffer fills. So the agent loop never waits: it hands each event to the stage's
lanes (concurrent across keys, in order within one key) and takes the next. When the lanes'
backlog reaches its high-water mark, the stage's partitions are paused at the consumer, and
resumed at half. Events are acked in offset order per partition, each once it and every event
before it finished (faust's own gap handling commits past a single unacked offset, so it never
sees an out-of-order ack), and a crash replays only what was in flight (at-least-once).
"""

import logging
import weakref
from collections import deque
from typing import Any

import faust
from faust.streams import _current_event

from bizbus.flows.runtime.faust_glue import raw_record
from bizbus.flows.runtime.guard import Handle, StageGuard
from bizbus.flows.runtime.lanes import KeyedLanes

log = logging.getLogger("bizbus.stages")


class FaustStage:
    """One stage run by a faust agent on `topic`, its records handled through `guard`."""

    def __init__(
        self,
        app: faust.App,
        topic: str,
        guard: StageGuard,
        handle: Handle,
        *,
        max_in_flight: int,
        high_water: int,
    ) -> None:
        self.app = app
        self.topic = topic
        self.guard = guard
        self.handle = handle
        self.lanes: KeyedLanes[Any] = KeyedLanes(
            self._run, max_in_flight=max_in_flight, high_water=high_water, on_backlog=self._throttle
        )
        self.throttled = False
        self._stream: Any = None
        self._in_order: dict[Any, deque[list[Any]]] = {}  # tp -> [event, finished] by offset

    async def agent(self, stream: Any) -> None:
        """The agent body: take every event at once and hand it to its key's lane."""
        self._stream = stream.noack()
        try:
            async for event in self._stream.events():
                entry = [event, False]
                self._in_order.setdefault(event.message.tp, deque()).append(entry)
                self.lanes.put(event.key, entry)
        finally:
            await self.lanes.close()

    async def _run(self, entry: list[Any]) -> None:
        event = entry[0]
        # faust finds the partition of a table write from the stream's current event, a context
        # variable it sets while iterating; a lane runs later in its own task, so set it here.
        _current_event.set(weakref.ref(event))
        await self.guard.run(self.handle, raw_record(event))
        entry[1] = True
        pending = self._in_order[event.message.tp]
        while pending and pending[0][1]:
            await self._stream.ack(pending.popleft()[0])

    def _throttle(self, on: bool) -> None:
        self.throttled = on
        self._apply_pause()
        log.info(
            "stage %s %s fetching (%d event(s) in hand)",
            self.guard.stage, "pauses" if on else "resumes", self.lanes.backlog,
        )  # fmt: skip

    def reapply_pause(self) -> None:
        """After a rebalance faust resumes every partition: pause ours again if still full."""
        if self.throttled:
            self._apply_pause()

    def _apply_pause(self) -> None:
        consumer = self.app.consumer
        mine = {tp for tp in consumer.assignment() if tp.topic == self.topic}
        if mine:
            (consumer.pause_partitions if self.throttled else consumer.resume_partitions)(mine)
