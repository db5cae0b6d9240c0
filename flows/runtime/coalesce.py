"""Many concurrent calls, one request: a stage's lanes submit items, a flusher runs them in batches.

A sink whose system takes many records per call (Salesforce sObject Collections: 200) keeps its
per-record handler: each handler awaits `submit(key, item)`, which resolves with that item's own
result or raises its own error. A batch holds at most `max_items` and each key at most once (a
later item of a key waits for the next batch, so per-key order holds even without lanes). A
batch goes once it is full, once no item has come for `linger_s` (a lone item barely waits) or
`max_wait_s` after it began gathering (a steady trickle still goes). If the batch call itself
fails, every item of it raises that error (an outage stays the system's state in the guard,
never a record's dead letter).
"""

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

__all__ = ["Coalescer", "RunBatch"]

T = TypeVar("T")
R = TypeVar("R")

RunBatch = Callable[[Sequence[T]], Awaitable[Sequence[R | Exception]]]
"""Runs a batch; answers one result or one error per item, in order (raises: all failed)."""


class Coalescer(Generic[T, R]):
    """Gathers concurrent `submit` calls into batches run one at a time by `run`."""

    def __init__(
        self, run: RunBatch[T, R], *, max_items: int, linger_s: float, max_wait_s: float = 1.0
    ) -> None:
        if max_items < 1 or linger_s < 0 or max_wait_s < linger_s:
            raise ValueError("max_items must be at least 1 and 0 <= linger_s <= max_wait_s")
        self._run = run
        self.max_items = max_items
        self.linger_s = linger_s
        self.max_wait_s = max_wait_s
        self._arrived = asyncio.Event()
        self._pending: list[tuple[Hashable, T, asyncio.Future[R]]] = []
        self._full = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self.batches = 0  # batches run (for tests and metrics)

    async def submit(self, key: Hashable, item: T) -> R:
        """Queue `item` for the next batch and return its result (or raise its error)."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((key, item, future))
        self._arrived.set()
        if len(self._pending) >= self.max_items:
            self._full.set()
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_all())
        return await future

    def _take(self) -> list[tuple[Hashable, T, asyncio.Future[R]]]:
        taken: list[tuple[Hashable, T, asyncio.Future[R]]] = []
        keys: set[Hashable] = set()
        left: list[tuple[Hashable, T, asyncio.Future[R]]] = []
        for entry in self._pending:
            if entry[2].done():
                continue  # its caller gave up (cancelled): nothing to write for it
            if len(taken) < self.max_items and entry[0] not in keys:
                keys.add(entry[0])
                taken.append(entry)
            else:
                left.append(entry)
        self._pending = left
        self._full.clear()
        if len(left) >= self.max_items:
            self._full.set()
        return taken

    async def _gather(self) -> None:
        """Return once the batch is full, items stopped coming for `linger_s`, or at the cap."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait_s
        while not self._full.is_set():
            self._arrived.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            try:
                await asyncio.wait_for(self._arrived.wait(), min(self.linger_s, remaining))
            except TimeoutError:
                return

    async def _flush_all(self) -> None:
        while self._pending:
            await self._gather()
            batch = self._take()
            if batch:
                await self._flush(batch)

    async def _flush(self, batch: list[tuple[Hashable, T, asyncio.Future[R]]]) -> None:
        self.batches += 1
        try:
            results: Sequence[R | Exception] = await self._run([item for _, item, _ in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"a batch of {len(batch)} answered {len(results)} results")
        except Exception as error:  # noqa: BLE001 - the batch's failure is each item's failure
            results = [error] * len(batch)
        for (_, _, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)
