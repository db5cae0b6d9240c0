"""Keyed concurrency: jobs of one key run one after another, different keys run side by side.

``KeyedRunner.submit`` enqueues synchronously, so submit order is run order within a key; a
semaphore bounds how many jobs run at once across keys. A failed job fails only its own future:
the next job of that key still runs (callers that need stop-on-error chain on the future).
"""

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from types import TracebackType
from typing import Any, Self, TypeVar

__all__ = ["KeyedRunner"]

T = TypeVar("T")
_Job = tuple[Callable[[], Awaitable[Any]], "asyncio.Future[Any]"]


class KeyedRunner:
    """Run async jobs with per-key order and bounded concurrency across keys.

    Use as an async context manager (leaving it waits for every submitted job), or call
    ``join``/``aclose`` yourself.

    Args:
        concurrency: Jobs running at once across all keys (>= 1).
    """

    def __init__(self, concurrency: int) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        self.concurrency = concurrency
        self._slots = asyncio.Semaphore(concurrency)
        self._queues: dict[Hashable, deque[_Job]] = {}
        self._workers: set[asyncio.Task[None]] = set()
        self._pending = 0

    @property
    def pending(self) -> int:
        """Jobs submitted and not finished yet."""
        return self._pending

    @property
    def active_keys(self) -> int:
        """Keys with queued or running jobs."""
        return len(self._queues)

    def submit(self, key: Hashable, job: Callable[[], Awaitable[T]]) -> "asyncio.Future[T]":
        """Queue ``job`` behind earlier jobs of ``key``; its future holds the result or error."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        queue = self._queues.get(key)
        self._pending += 1
        if queue is not None:
            queue.append((job, future))
            return future
        self._queues[key] = deque([(job, future)])
        worker = asyncio.create_task(self._drain(key))
        self._workers.add(worker)
        worker.add_done_callback(self._workers.discard)
        return future

    async def _drain(self, key: Hashable) -> None:
        queue = self._queues[key]
        try:
            while queue:
                job, future = queue[0]
                try:
                    async with self._slots:
                        if not future.cancelled():
                            result = await job()
                            if not future.done():
                                future.set_result(result)
                except asyncio.CancelledError:
                    if not future.done():
                        future.cancel()
                    raise
                except Exception as exc:  # noqa: BLE001 - handed to the job's own future
                    if not future.done():
                        future.set_exception(exc)
                finally:
                    queue.popleft()
                    self._pending -= 1
        finally:
            for _, future in queue:
                future.cancel()
            self._pending -= len(queue)
            queue.clear()
            del self._queues[key]

    async def join(self) -> None:
        """Wait until every submitted job (also those submitted meanwhile) has finished."""
        while self._workers:
            await asyncio.gather(*self._workers, return_exceptions=True)

    async def aclose(self) -> None:
        """Cancel queued and running jobs and wait for the workers to stop."""
        for worker in list(self._workers):
            worker.cancel()
        await self.join()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            await self.join()
        else:
            await self.aclose()
