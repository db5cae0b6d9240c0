"""Feishu approval catch-up feed: list instances by start time, fetch details, emit by cursor.

Feishu's list API filters on when an instance was *filed*, but a change (approval, rejection)
comes later, so each poll lists instances filed from ``cursor - overlap - lookback`` up to now
for every configured definition, fetches each detail (bounded concurrency) and lets
``next_poll`` emit those whose (end or start time, instance code) is new or whose detail
changed at that position. Details that vanished between list and fetch (1390003) are skipped.
"""

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bizbus.connectors.base import Cursor, PollState, SourceRecord, next_poll
from bizbus.connectors.feishu.client import INSTANCE_NOT_FOUND, FeishuClient, FeishuRejected
from bizbus.connectors.feishu.forms import InstanceDetail, parse_detail
from bizbus.connectors.feishu.receiver import INSTANCE_ENTITY

__all__ = ["CatchUpOptions", "catch_up_record", "read_catch_up"]

_SKEW = timedelta(minutes=1)  # Feishu's clock may run ahead of ours: list a little past now


@dataclass(frozen=True, slots=True)
class CatchUpOptions:
    """How a catch-up poll reads.

    Attributes:
        approval_codes: Definitions to list.
        lookback: How long before the cursor an instance may have been filed and still change.
        overlap: How far back each poll re-reads before its cursor.
        page_size: Codes per list page (1-100).
        concurrency: Details fetched at once.
    """

    approval_codes: Sequence[str]
    lookback: timedelta = timedelta(days=7)
    overlap: timedelta = timedelta(minutes=5)
    page_size: int = 100
    concurrency: int = 8


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def catch_up_record(detail: InstanceDetail, cursor: Cursor) -> SourceRecord:
    """The record of one instance found by catch-up; the payload has the event's keys + detail.

    ``payload["detail"]`` is the raw detail, so flows need not fetch it again. ``cursor`` is
    the one to commit after it (``PollBatch.commits``), at or above the instance's position.
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
) -> AsyncIterator[tuple[list[SourceRecord], PollState]]:
    """One catch-up poll: yields the new records (cursor order) and the state after them.

    Args:
        client: The approval v4 client.
        state: State after the previous poll (``PollState.resume(cursor)`` on start).
        options: Definitions, lookback, overlap, paging and concurrency.
        now: Upper end of the listing window (tests); the wall clock by default.
    """
    upper = now if now is not None else datetime.now(UTC)
    since = state.since(options.overlap)
    start = (since if since is not None else upper) - options.lookback
    codes: list[str] = []
    for approval_code in options.approval_codes:
        async for page in client.list_instance_codes(
            approval_code, _ms(start), _ms(upper + _SKEW), page_size=options.page_size
        ):
            codes.extend(page)
    details = await _details(client, list(dict.fromkeys(codes)), concurrency=options.concurrency)
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
        catch_up_record(detail, commit)
        for (detail, _), commit in zip(batch.emit, batch.commits, strict=True)
    ]
    yield records, batch.state
