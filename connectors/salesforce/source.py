"""Salesforce change feeds: SOQL polling on ``SystemModstamp`` with an overlap and an id tie-break.

Each poll reads ``SystemModstamp >= watermark - overlap ORDER BY SystemModstamp, Id LIMIT n``,
then continues by keyset (``(SystemModstamp, Id) > last row``) until a short batch, so a burst
sharing one millisecond never stalls the feed; ``next_poll`` drops rows already emitted unless
their content changed (two writes in one ms). Orders carry their items under ``OrderItems``.
"""

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bizbus.connectors.base import Cursor, PollState, SourceRecord
from bizbus.connectors.feeds import poll_pages
from bizbus.connectors.salesforce.client import SalesforceClient
from bizbus.connectors.salesforce.objects import ObjectSpec
from bizbus.connectors.salesforce.soql import format_soql, parse_datetime, select

__all__ = ["FeedOptions", "attach_order_items", "position", "read_poll"]

_IN_CHUNK = 100  # ids per "OrderId IN (...)": keeps the query URL far below Salesforce's 16 KB
EchoHint = Callable[[dict[str, Any]], str | None]


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
) -> AsyncIterator[tuple[list[SourceRecord], PollState]]:
    """One poll of a feed, batch by batch: the new records and the state after them.

    Args:
        client: The REST client.
        spec: The object read.
        state: State after the previous poll (``PollState.resume(cursor)`` on start).
        options: Overlap, batch size, deletions, echo field.
        echo: Turns a row into its echo hint (``SourceRecord.client``).

    Yields:
        The records to emit (cursor order, cursors never decreasing) and the state after them.
    """
    fields = spec.feed_fields(options.echo_field)

    async def page(since: datetime | None, after: Cursor | None) -> list[dict[str, Any]]:
        soql = select(spec.name, fields, where=_window(since, after),
                      order_by=("SystemModstamp", "Id"), limit=options.page_size)  # fmt: skip
        return await client.query(soql, include_deleted=options.include_deleted)

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
