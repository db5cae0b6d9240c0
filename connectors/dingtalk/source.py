"""DingTalk approval catch-up feed: list instance ids by start time, fetch details, emit by cursor.

Like Feishu's, DingTalk's list (``POST /v1.0/workflow/processes/instanceIds/query``) filters on
when an instance was *started*, so each pass lists instances started from
``cursor - overlap - lookback`` to now, fetches every detail (bounded concurrency) and lets
``next_poll`` emit those whose (finish or create time, id) is new or whose detail changed.
Ids that vanished between list and fetch (``aflowProcessInstNotExist``) are skipped. Each pass
is a full pass: DingTalk's quotas (20/s) and the catch-up interval keep that cheap.
"""

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bizbus.connectors.approvals import INSTANCE_ENTITY, InstanceDetail
from bizbus.connectors.base import Cursor, PollState, SourceRecord, next_poll
from bizbus.connectors.dingtalk.client import INSTANCE_NOT_FOUND, DingTalkClient, DingTalkRejected
from bizbus.connectors.dingtalk.forms import parse_detail, raw_detail
from bizbus.connectors.feishu.handlers import DEFAULT_HANDLER, HANDLER_KEY

__all__ = ["CatchUpOptions", "catch_up_record", "read_catch_up"]

_SKEW = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class CatchUpOptions:
    """How a catch-up poll reads: forms, windows, paging, concurrency and handlers."""

    process_codes: Sequence[str]
    lookback: timedelta = timedelta(days=7)
    overlap: timedelta = timedelta(minutes=5)
    page_size: int = 20
    concurrency: int = 4
    handlers: Mapping[str, str] = field(default_factory=dict)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def catch_up_record(detail: InstanceDetail, cursor: Cursor, *, handler: str) -> SourceRecord:
    """The record of a detail read by catch-up: the keys callbacks carry, plus the raw detail."""
    payload = {
        "approval_code": detail.approval_code,
        "instance_code": detail.instance_code,
        "processInstanceId": detail.instance_code,
        "processCode": detail.approval_code,
        "status": detail.status,
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
    )


async def _details(
    client: DingTalkClient, found: Sequence[tuple[str, str]], *, concurrency: int
) -> list[InstanceDetail]:
    gate = asyncio.Semaphore(concurrency)

    async def one(process_code: str, instance_id: str) -> InstanceDetail | None:
        async with gate:
            try:
                result = await client.get_instance(instance_id)
            except DingTalkRejected as exc:
                if exc.code == INSTANCE_NOT_FOUND:
                    return None
                raise
            return parse_detail(raw_detail(instance_id, process_code, result))

    details = await asyncio.gather(*(one(code, iid) for code, iid in found))
    return [detail for detail in details if detail is not None]


async def read_catch_up(
    client: DingTalkClient,
    state: PollState,
    *,
    options: CatchUpOptions,
    now: datetime | None = None,
) -> AsyncIterator[tuple[list[SourceRecord], PollState]]:
    """One catch-up poll: yields the new records (cursor order) and the state after them."""
    upper = now if now is not None else datetime.now(UTC)
    since = state.since(options.overlap)
    start = _ms((since if since is not None else upper) - options.lookback)
    found: dict[str, str] = {}
    for process_code in options.process_codes:
        async for page in client.list_instance_ids(
            process_code, start, _ms(upper + _SKEW), page_size=options.page_size
        ):
            found.update(dict.fromkeys(page, process_code))
    pairs = [(code, instance_id) for instance_id, code in found.items()]
    details = await _details(client, pairs, concurrency=options.concurrency)
    batch = next_poll(
        details, state, key=lambda d: d.position, overlap=options.overlap, version=lambda d: d.raw
    )
    records = [
        catch_up_record(
            detail, commit, handler=options.handlers.get(detail.approval_code, DEFAULT_HANDLER)
        )
        for (detail, _), commit in zip(batch.emit, batch.commits, strict=True)
    ]
    yield records, batch.state
