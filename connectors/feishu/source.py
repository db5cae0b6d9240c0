"""Feishu approval catch-up feed: list instances by start time, fetch details, emit by cursor.

Feishu's list API filters on when an instance was *filed*, but a change (approval, rejection)
comes later, so a full pass lists instances filed from ``cursor - overlap - lookback`` up to
now, fetches each detail (bounded concurrency) and lets ``next_poll`` emit those whose (end or
start time, instance code) is new or whose detail changed. ``CatchUpMemory`` keeps a cursor of
the listing and the instances still open: later passes list only what was filed since the last
listing and fetch only those and the open ones (a full pass again every ``rescan``). Details
that vanished between list and fetch (1390003) are skipped.
"""

import asyncio
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bizbus.connectors.base import Cursor, PollState, SourceRecord, next_poll
from bizbus.connectors.feishu.client import INSTANCE_NOT_FOUND, FeishuClient, FeishuRejected
from bizbus.connectors.feishu.forms import InstanceDetail, parse_detail
from bizbus.connectors.feishu.handlers import DEFAULT_HANDLER, HANDLER_KEY
from bizbus.connectors.feishu.receiver import INSTANCE_ENTITY

__all__ = ["FINAL_STATUSES", "CatchUpMemory", "CatchUpOptions", "catch_up_record", "read_catch_up"]

_SKEW = timedelta(minutes=1)  # Feishu's clock may run ahead of ours: list a little past now
# Statuses after which only a revert (an event the callbacks carry) changes an instance.
FINAL_STATUSES = frozenset({"APPROVED", "REJECTED", "CANCELED", "DELETED"})


@dataclass(frozen=True, slots=True)
class CatchUpOptions:
    """How a catch-up poll reads.

    Attributes:
        approval_codes: Definitions to list.
        lookback: How long before the cursor an instance may have been filed and still change.
        overlap: How far back each poll re-reads before its cursor.
        page_size: Codes per list page (1-100).
        concurrency: Details fetched at once.
        handlers: Code → handler named in each record (default handler when absent).
    """

    approval_codes: Sequence[str]
    lookback: timedelta = timedelta(days=7)
    overlap: timedelta = timedelta(minutes=5)
    page_size: int = 100
    concurrency: int = 8
    rescan: timedelta = timedelta(hours=6)
    handlers: Mapping[str, str] = field(default_factory=dict)


@dataclass
class CatchUpMemory:
    """What earlier passes of one connector learnt, so the next pass re-reads little.

    Attributes:
        listed_to: Upper end (ms) of the last listing; None before the first full pass.
        open: Instances seen not yet final (code → filed ms): fetched again every pass.
        settled: Instances seen final that the next listing may show again (code → filed
            ms): not fetched again until a full pass.
        full_at: Monotonic time of the last full pass.
    """

    listed_to: int | None = None
    open: dict[str, int] = field(default_factory=dict)
    settled: dict[str, int] = field(default_factory=dict)
    full_at: float = 0.0

    def full_due(self, rescan: timedelta, now: float) -> bool:
        """True when the next pass must list and fetch the whole lookback again."""
        return self.listed_to is None or now - self.full_at >= rescan.total_seconds()

    def learn(
        self, details: Sequence[InstanceDetail], asked: Sequence[str], *, upper: int, margin: int
    ) -> None:
        """Remember a pass's outcome (call once its records were handed on).

        ``upper`` is where the listing ended; the next one starts ``margin`` ms before it.
        """
        for code in asked:
            self.open.pop(code, None)  # vanished, or final
        for detail in details:
            filed = _ms(detail.start_time)
            if detail.status in FINAL_STATUSES:
                self.settled[detail.instance_code] = filed
            else:
                self.open[detail.instance_code] = filed
        self.listed_to = upper
        self.settled = {c: f for c, f in self.settled.items() if f >= upper - margin}


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def catch_up_record(
    detail: InstanceDetail, cursor: Cursor, *, handler: str = DEFAULT_HANDLER
) -> SourceRecord:
    """The record of one instance found by catch-up; the payload has the event's keys + detail.

    ``payload["detail"]`` is the raw detail, so flows need not fetch it again. ``cursor`` is
    the one to commit after it (``PollBatch.commits``), at or above the instance's position.
    ``handler`` is the handler claiming the instance's definition.
    """
    payload: dict[str, Any] = {
        "approval_code": detail.approval_code,
        "instance_code": detail.instance_code,
        "status": detail.status,
        "operate_time": str(_ms(detail.updated_at)),
        "uuid": detail.uuid,
        "event_id": None,
        "event_type": INSTANCE_ENTITY,
        "detail": dict(detail.raw),
        HANDLER_KEY: handler,
    }
    return SourceRecord(
        entity=INSTANCE_ENTITY,
        id=detail.instance_code,
        cursor=cursor,
        payload=payload,
        modified_at=detail.updated_at,
        origin=detail.user_id,
        deleted=detail.status == "DELETED",
    )


async def _details(
    client: FeishuClient, codes: Sequence[str], *, concurrency: int
) -> list[InstanceDetail]:
    gate = asyncio.Semaphore(concurrency)

    async def one(code: str) -> InstanceDetail | None:
        async with gate:
            try:
                return parse_detail(await client.get_instance(code))
            except FeishuRejected as exc:
                if exc.code == INSTANCE_NOT_FOUND:
                    return None
                raise

    found = await asyncio.gather(*(one(code) for code in codes))
    return [detail for detail in found if detail is not None]


async def read_catch_up(
    client: FeishuClient,
    state: PollState,
    *,
    options: CatchUpOptions,
    now: datetime | None = None,
    memory: CatchUpMemory | None = None,
) -> AsyncIterator[tuple[list[SourceRecord], PollState]]:
    """One catch-up poll: yields the new records (cursor order) and the state after them.

    Args:
        client: The approval v4 client.
        state: State after the previous poll (``PollState.resume(cursor)`` on start).
        options: Definitions, lookback, overlap, paging and concurrency.
        now: Upper end of the listing window (tests); the wall clock by default.
        memory: What earlier passes learnt (None: every pass is a full pass).
    """
    upper = now if now is not None else datetime.now(UTC)
    since = state.since(options.overlap)
    start = oldest = _ms((since if since is not None else upper) - options.lookback)
    full = memory is None or memory.full_due(options.rescan, time.monotonic())
    margin = int((options.overlap + 2 * _SKEW).total_seconds() * 1000)
    if not full and memory is not None and memory.listed_to is not None:
        # Only instances filed since the last listing are new; the open ones may have moved.
        start = max(start, memory.listed_to - margin)
    codes: list[str] = []
    for approval_code in options.approval_codes:
        async for page in client.list_instance_codes(
            approval_code, start, _ms(upper + _SKEW), page_size=options.page_size
        ):
            codes.extend(page)
    if memory is not None and not full:
        codes = [code for code in codes if code not in memory.settled]
        codes.extend(code for code, filed in memory.open.items() if filed >= oldest)
    asked = list(dict.fromkeys(codes))
    details = await _details(client, asked, concurrency=options.concurrency)
    # Feishu keeps no version per instance: the digest of the whole detail is its version, so
    # a task passed or a comment added without a new end_time is still seen in the window.
    batch = next_poll(
        details,
        state,
        key=lambda d: d.position,
        overlap=options.overlap,
        version=lambda d: d.raw,
    )
    records = [
        catch_up_record(
            detail, commit, handler=options.handlers.get(detail.approval_code, DEFAULT_HANDLER)
        )
        for (detail, _), commit in zip(batch.emit, batch.commits, strict=True)
    ]
    yield records, batch.state
    if memory is not None:  # the records were handed on: what they say is now known
        memory.learn(details, asked, upper=_ms(upper + _SKEW), margin=margin)
        if full:
            memory.full_at = time.monotonic()
        memory.open = {c: f for c, f in memory.open.items() if f >= oldest}
