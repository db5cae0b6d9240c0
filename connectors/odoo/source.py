"""Odoo change feeds: ``search_read`` polling on ``write_date`` with an overlap and an id tie-break.

Each poll reads ``write_date >= watermark - overlap`` ordered ``write_date asc, id asc`` in pages
of ``page_size``, continuing by keyset (``(write_date, id) > last row``) so a burst sharing one
second never stalls the feed; ``next_poll`` drops rows already emitted unless their content
changed. ``write_date`` has second precision (two writes in one second keep one position) and
keeps the transaction's start time, so the overlap must cover late commits.
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bizbus.connectors.base import Cursor, PollState, SourceRecord
from bizbus.connectors.errors import TransientError
from bizbus.connectors.feeds import poll_pages
from bizbus.connectors.odoo.models import ModelSpec
from bizbus.connectors.odoo.rpc import OdooRpc, odoo_datetime

__all__ = [
    "FeedOptions",
    "cursor_id",
    "feed_domain",
    "parse_odoo_datetime",
    "position",
    "read_poll",
]

_ID_DIGITS = 12
_ORDER = "write_date asc, id asc"


@dataclass(frozen=True, slots=True)
class FeedOptions:
    """How one feed is read.

    Attributes:
        overlap: How far back each poll re-reads (late commits, second precision).
        page_size: ``limit`` of one ``search_read``.
    """

    overlap: timedelta = timedelta(seconds=60)
    page_size: int = 200


def parse_odoo_datetime(text: str) -> datetime:
    """Odoo's ``YYYY-MM-DD HH:MM:SS`` (UTC, no zone) as a timezone-aware datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def cursor_id(record_id: int) -> str:
    """A record id as a cursor id: zero-padded so text order is numeric order."""
    return f"{record_id:0{_ID_DIGITS}d}"


def position(row: dict[str, Any]) -> Cursor:
    """The feed position of a row: ``(write_date, id)``.

    Raises:
        TransientError: The row has no ``write_date`` (Odoo answered an unexpected shape).
    """
    stamp = row.get("write_date")
    if not isinstance(stamp, str) or not stamp:
        raise TransientError("odoo: a feed row has no write_date", system="odoo")
    return Cursor(parse_odoo_datetime(stamp), cursor_id(int(row["id"])))


def feed_domain(since: datetime | None, after: Cursor | None) -> list[Any]:
    """The ``search_read`` domain of one page: from ``since``, or strictly after ``after``."""
    if after is not None:
        stamp = odoo_datetime(after.modified)
        return ["|", ("write_date", ">", stamp),
                "&", ("write_date", "=", stamp), ("id", ">", int(after.id))]  # fmt: skip
    if since is not None:
        # Whole seconds: Odoo compares text, and the boundary second must be read again.
        return [("write_date", ">=", odoo_datetime(since.replace(microsecond=0)))]
    return []


def _author(row: dict[str, Any]) -> str | None:
    value = row.get("write_uid")
    if isinstance(value, list) and value:
        value = value[0]
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else None


async def read_poll(
    rpc: OdooRpc, spec: ModelSpec, state: PollState, *, options: FeedOptions
) -> AsyncIterator[tuple[list[SourceRecord], PollState]]:
    """One poll of a feed, page by page: the new records and the state after them.

    Args:
        rpc: The Odoo client.
        spec: The model read.
        state: State after the previous poll (``PollState.resume(cursor)`` on start).
        options: Overlap and page size.

    Yields:
        The records to emit (cursor order, cursors never decreasing) and the state after them.
    """
    fields = spec.fields_to_read()
    context = {"context": {"active_test": False}} if spec.archivable else {}

    async def page(since: datetime | None, after: Cursor | None) -> list[dict[str, Any]]:
        rows = await rpc.call(
            spec.name,
            "search_read",
            [feed_domain(since, after)],
            {"fields": fields, "order": _ORDER, "limit": options.page_size, **context},
        )
        return [row for row in rows if isinstance(row, dict)] if isinstance(rows, list) else []

    pages = poll_pages(
        page, state, key=position, overlap=options.overlap, page_size=options.page_size
    )
    async for batch in pages:
        records = [
            SourceRecord(
                entity=spec.name,
                id=str(row["id"]),
                cursor=commit,
                payload=row,
                modified_at=at.modified,
                origin=_author(row),
            )
            for (row, at), commit in zip(batch.emit, batch.commits, strict=True)
        ]
        yield records, batch.state
