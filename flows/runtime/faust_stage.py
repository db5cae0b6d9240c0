"""A stage on faust: per-key lanes, the stage guard, manual acks, fetching paused on backlog.

faust feeds every agent from one conductor, and an agent that stops taking events stalls all of
them once its buffer fills. So the agent loop never waits: it hands each event to the stage's
lanes (concurrent across keys, in order within one key) and takes the next. When the lanes'
backlog reaches its high-water mark, the stage's partitions are paused at the consumer, and
resumed at half. An event is acked once its lane finished it; faust commits below the oldest
unacked offset, so a crash replays only what was in flight (at-least-once; sinks idempotent).
"""

import logging
import weakref
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

    async def agent(self, stream: Any) -> None:
        """The agent body: take every event at once and hand it to its key's lane."""
        self._stream = stream.noack()
        try:
            async for event in self._stream.events():
                self.lanes.put(event.key, event)
        finally:
            await self.lanes.close()

    async def _run(self, event: Any) -> None:
        # faust finds the partition of a table write from the stream's current event, a context
        # variable it sets while iterating; a lane runs later in its own task, so set it here.
        _current_event.set(weakref.ref(event))
        await self.guard.run(self.handle, raw_record(event))
        await self._stream.ack(event)

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
