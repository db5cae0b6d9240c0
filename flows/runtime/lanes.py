"""Per-key lanes: a stage works on many keys at once and keeps strict order within each key.

Items are accepted without waiting (the caller is a consumer loop that must never block), run
at most `max_in_flight` at a time, one at a time per key, oldest key first. When the accepted
but unfinished items reach `high_water`, `on_backlog(True)` asks the caller to stop fetching
(pause its partitions); once they drop to half of it, `on_backlog(False)` lets it resume. A
paused lane set starts nothing new; what runs finishes.
"""

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Coroutine, Hashable
from functools import partial
from typing import Generic, TypeVar

log = logging.getLogger("bizbus.lanes")
T = TypeVar("T")


class KeyedLanes(Generic[T]):
    """Runs `run(item)` concurrently across keys and in arrival order within one key."""

    def __init__(
        self,
        run: Callable[[T], Coroutine[object, object, None]],
        *,
        max_in_flight: int = 64,
        high_water: int = 1024,
        on_backlog: Callable[[bool], None] | None = None,
    ) -> None:
        if max_in_flight < 1 or high_water < 1:
            raise ValueError("max_in_flight and high_water must be at least 1")
        self._run = run
        self.max_in_flight = max_in_flight
        self.high_water = high_water
        self._on_backlog = on_backlog or (lambda _: None)
        self._waiting: dict[Hashable, deque[T]] = {}
        self._ready: deque[Hashable] = deque()  # keys with waiting items and nothing running
        self._running: dict[Hashable, asyncio.Task[None]] = {}
        self._backlog = 0
        self._throttled = False
        self._paused = False
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def backlog(self) -> int:
        """Items accepted and not finished (running or waiting)."""
        return self._backlog

    @property
    def running(self) -> int:
        """Items running now."""
        return len(self._running)

    def put(self, key: Hashable | None, item: T) -> None:
        """Accept `item` for `key` (None: a lane of its own); never waits."""
        lane: Hashable = key if key is not None else object()
        queue = self._waiting.get(lane)
        if queue is None:
            queue = self._waiting[lane] = deque()
            if lane not in self._running:
                self._ready.append(lane)
        queue.append(item)
        self._backlog += 1
        self._idle.clear()
        if not self._throttled and self._backlog >= self.high_water:
            self._throttled = True
            self._on_backlog(True)
        self._start_ready()

    def pause(self) -> None:
        """Start nothing new until `resume` (running items finish)."""
        self._paused = True

    def resume(self) -> None:
        """Start waiting items again."""
        self._paused = False
        self._start_ready()

    @property
    def paused(self) -> bool:
        """Whether new items are held back."""
        return self._paused

    async def wait_idle(self) -> None:
        """Return once every accepted item has finished."""
        await self._idle.wait()

    async def close(self) -> None:
        """Cancel what runs and drop what waits (unfinished work is redelivered by Kafka)."""
        self._paused = True
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._waiting.clear()
        self._ready.clear()
        self._running.clear()
        self._backlog = 0
        self._idle.set()

    def _start_ready(self) -> None:
        while not self._paused and self._ready and len(self._running) < self.max_in_flight:
            lane = self._ready.popleft()
            queue = self._waiting[lane]
            item = queue.popleft()
            if not queue:
                del self._waiting[lane]
            task: asyncio.Task[None] = asyncio.get_running_loop().create_task(self._run(item))
            self._running[lane] = task
            task.add_done_callback(partial(self._finished, lane))

    def _finished(self, lane: Hashable, task: asyncio.Task[None]) -> None:
        if self._running.get(lane) is not task:
            return  # closed meanwhile
        del self._running[lane]
        if not task.cancelled() and task.exception() is not None:
            # `run` is the guard and must not raise; a bug there must not stall the lane.
            log.error("a lane job raised %r; moving on", task.exception())
        self._backlog -= 1
        if lane in self._waiting:
            self._ready.append(lane)
        if self._throttled and self._backlog <= self.high_water // 2:
            self._throttled = False
            self._on_backlog(False)
        if not self._backlog:
            self._idle.set()
        self._start_ready()
