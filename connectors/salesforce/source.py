"""Salesforce change feeds: SOQL polling on ``SystemModstamp`` with an overlap and an id tie-break.

Each poll reads ``SystemModstamp >= watermark - overlap ORDER BY SystemModstamp, Id LIMIT n``,
then continues by keyset (``(SystemModstamp, Id) > last row``) until a short batch, so a burst
sharing one millisecond never stalls the feed; ``next_poll`` drops rows already emitted unless
their content changed (two writes in one ms). Orders carry their items under ``OrderItems``.
A poll's first batch may come ready from ``Prefetched`` (one Composite call for every feed).
"""

import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bizbus.connectors.base import Cursor, PollState, SourceRecord
from bizbus.connectors.errors import ConnectorError
from bizbus.connectors.feeds import poll_pages
from bizbus.connectors.salesforce.client import SalesforceClient
from bizbus.connectors.salesforce.objects import ObjectSpec
from bizbus.connectors.salesforce.soql import format_soql, parse_datetime, select

__all__ = [
    "FeedOptions",
    "Prefetched",
    "attach_order_items",
    "first_query",
    "position",
    "read_poll",
    "to_record",
]

_IN_CHUNK = 100  # ids per "OrderId IN (...)": keeps the query URL far below Salesforce's 16 KB
EchoHint = Callable[[dict[str, Any]], str | None]
Answer = dict[str, Any] | ConnectorError


@dataclass(frozen=True, slots=True)
class FeedOptions:
    """How one feed is read.

    Attributes:
        overlap: How far back each poll re-reads (late commits, clock skew).
        page_size: ``LIMIT`` of one batch query.
        include_deleted: Read with ``queryAll`` so deletions arrive (``deleted=True``).
        echo_field: Field selected for the echo hint ('' for none).
    """

    overlap: timedelta = timedelta(seconds=60)
    page_size: int = 200
    include_deleted: bool = True
    echo_field: str = ""


class Prefetched:
    """First batches read ahead in one Composite call, each taken once by the poll asking it.

    Keyed by the exact SOQL text, so a poll only ever takes the answer to its own query; an
    answer not taken within ``ttl_s`` (or before the next prefetch) is dropped, never served.
    """

    def __init__(self, ttl_s: float = 30.0) -> None:
        self.ttl_s = ttl_s
        self._answers: dict[str, tuple[float, Answer]] = {}

    def keep(self, answers: Mapping[str, Answer]) -> None:
        """Replace what is kept by `answers` (SOQL → first page, or that query's error)."""
        now = time.monotonic()
        self._answers = {soql: (now, answer) for soql, answer in answers.items()}

    def take(self, soql: str) -> Answer | None:
        """Return (and forget) the answer kept for `soql`, or None."""
        kept = self._answers.pop(soql, None)
        if kept is None or time.monotonic() - kept[0] > self.ttl_s:
            return None
        return kept[1]


def first_query(spec: ObjectSpec, state: PollState, options: FeedOptions) -> str:
    """The SOQL of the first batch of a poll from `state` (what ``read_poll`` will ask)."""
    return _page_soql(spec, options, state.since(options.overlap), None)


def _page_soql(
    spec: ObjectSpec, options: FeedOptions, since: datetime | None, after: Cursor | None
) -> str:
    return select(spec.name, spec.feed_fields(options.echo_field), where=_window(since, after),
                  order_by=("SystemModstamp", "Id"), limit=options.page_size)  # fmt: skip


def position(row: dict[str, Any]) -> Cursor:
    """The feed position of a row: ``(SystemModstamp, Id)``."""
    return Cursor(parse_datetime(str(row["SystemModstamp"])), str(row["Id"]))


def _window(since: datetime | None, after: Cursor | None) -> str | None:
    if after is not None:
        return format_soql(
            "(SystemModstamp > {m} OR (SystemModstamp = {m} AND Id > {i}))",
            m=after.modified,
            i=after.id,
        )
    if since is not None:
        return format_soql("SystemModstamp >= {m}", m=since)
    return None


async def read_poll(
    client: SalesforceClient,
    spec: ObjectSpec,
    state: PollState,
    *,
    options: FeedOptions,
    echo: EchoHint,
    prefetched: Prefetched | None = None,
) -> AsyncIterator[tuple[list[SourceRecord], PollState]]:
    """One poll of a feed, batch by batch: the new records and the state after them.

    Args:
        client: The REST client.
        spec: The object read.
        state: State after the previous poll (``PollState.resume(cursor)`` on start).
        options: Overlap, batch size, deletions, echo field.
        echo: Turns a row into its echo hint (``SourceRecord.client``).
        prefetched: First batches read ahead; the poll's own is taken from there if present.

    Yields:
        The records to emit (cursor order, cursors never decreasing) and the state after them.
    """

    async def page(since: datetime | None, after: Cursor | None) -> list[dict[str, Any]]:
        soql = _page_soql(spec, options, since, after)
        answer = prefetched.take(soql) if prefetched is not None and after is None else None
        if answer is None:
            return await client.query(soql, include_deleted=options.include_deleted)
        if isinstance(answer, ConnectorError):
            raise answer
        return [row async for page in client.pages_from(answer) for row in page]

    pages = poll_pages(
        page, state, key=position, overlap=options.overlap, page_size=options.page_size
    )
    async for batch in pages:
        emitted = [row for row, _ in batch.emit]
        if spec.name == "Order" and emitted:
            # After next_poll: versions digest the Order row itself (a roll-up bumps its stamp).
            await attach_order_items(client, emitted)
        records = [
            _record(spec, row, at, commit, echo)
            for (row, at), commit in zip(batch.emit, batch.commits, strict=True)
        ]
        yield records, batch.state


def to_record(spec: ObjectSpec, row: dict[str, Any], client: str | None) -> SourceRecord:
    """The source record of a row read outside a poll (a pushed change), positioned at itself."""
    at = position(row)
    return _record(spec, row, at, at, lambda _: client)


def _record(
    spec: ObjectSpec, row: dict[str, Any], at: Cursor, commit: Cursor, echo: EchoHint
) -> SourceRecord:
    origin = row.get("LastModifiedById")
    return SourceRecord(
        entity=spec.name,
        id=at.id,
        cursor=commit,
        payload=row,
        modified_at=at.modified,
        origin=origin if isinstance(origin, str) else None,
        client=echo(row),
        deleted=bool(row.get("IsDeleted")),
    )


async def attach_order_items(client: SalesforceClient, orders: Sequence[dict[str, Any]]) -> None:
    """Put each order's live items under ``OrderItems`` as a subquery would (``records``)."""
    spec_fields = ("Id", "SystemModstamp", "OrderId", "PricebookEntryId", "Product2Id",
                   "OrderItemNumber", "Quantity", "UnitPrice", "ListPrice", "TotalPrice",
                   "Description", "ErpLineRef__c", "PriceReviewNeeded__c")  # fmt: skip
    items: dict[str, list[dict[str, Any]]] = {str(order["Id"]): [] for order in orders}
    ids = list(items)
    for start in range(0, len(ids), _IN_CHUNK):
        chunk = ids[start : start + _IN_CHUNK]
        soql = select("OrderItem", spec_fields, where=format_soql("OrderId IN {ids}", ids=chunk),
                      order_by=("OrderId", "Id"))  # fmt: skip
        for item in await client.query(soql):
            items.setdefault(str(item["OrderId"]), []).append(item)
    for order in orders:
        mine = items[str(order["Id"])]
        order["OrderItems"] = {"totalSize": len(mine), "done": True, "records": mine}
