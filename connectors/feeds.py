"""The loops every polled feed shares: one poll page by page, and one poll after another.

A dialect says how to read one page of rows and how a row becomes a record; these loops do
the keyset paging, the stop rule and the follow-on polls, so every feed pages, resumes and
remembers its state the same way (``base.next_poll`` decides what each page emits).
"""

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

from bizbus.connectors.base import Cursor, PollBatch, PollState, SourceRecord, next_poll

__all__ = ["Pass", "follow_polls", "poll_pages"]

T = TypeVar("T")

Pass = Callable[[PollState], AsyncIterator[tuple[list[SourceRecord], PollState]]]
"""One poll of a feed from a state: its records, batch by batch, with the state after each."""


async def poll_pages(
    fetch: Callable[[datetime | None, Cursor | None], Awaitable[list[T]]],
    state: PollState,
    *,
    key: Callable[[T], Cursor],
    overlap: timedelta,
    page_size: int,
) -> AsyncIterator[PollBatch[T]]:
    """One poll of a keyset-paged feed: what each page emits, and the state after it.

    Args:
        fetch: Reads up to ``page_size`` rows with ``modified >= since`` (None: all) positioned
            after ``after`` (None: from the start), in position order.
        state: State after the previous poll (``PollState.resume(cursor)`` on start).
        key: Position of a row.
        overlap: How far back the poll re-reads before the state's cursor.
        page_size: Rows per page; a shorter page is the last.
    """
    since = state.since(overlap)
    after: Cursor | None = None
    while True:
        rows = await fetch(since, after)
        batch = next_poll(rows, state, key=key, overlap=overlap)
        state = batch.state
        yield batch
        if len(rows) < page_size:
            return
        after = max(key(row) for row in rows)


async def follow_polls(
    one_pass: Pass,
    state: PollState,
    *,
    follow: bool,
    interval: float,
    sleep: Callable[[float], Awaitable[None]],
    remember: Callable[[PollState], None] | None = None,
) -> AsyncGenerator[SourceRecord, None]:
    """Yield the records of one poll (``follow=False``) or of a poll every ``interval`` s.

    ``remember`` is told the state after every batch, so a later call resumed from the last
    cursor yielded can continue from it instead of re-reading the overlap.
    """
    while True:
        async for records, after in one_pass(state):
            for record in records:
                yield record
            state = after
            if remember is not None:
                remember(after)
        if not follow:
            return
        await sleep(interval)
