"""Odoo feeds: write_date domain, keyset paging, equal seconds, changes in one second, resume."""

from datetime import UTC, datetime, timedelta

from bizbus.connectors.base import Cursor, SourceRecord
from bizbus.connectors.odoo import OdooConnector, cursor_id, parse_odoo_datetime
from bizbus.connectors.odoo.source import feed_domain
from tests.unit.test_connector_odoo_fake import FakeOdoo

T0 = "2025-05-06 08:00:00"
T1 = "2025-05-06 08:00:01"


def orders(fake: FakeOdoo, *stamps: str, author: int = 2) -> list[int]:
    return [
        fake.add("sale.order", name=f"S{i}", state="sale", write_date=stamp, write_uid=author)
        for i, stamp in enumerate(stamps)
    ]


async def feed(erp: OdooConnector, since: Cursor | None = None) -> list[SourceRecord]:
    """One pass of the sale.order feed after ``since``, as the poller runs it."""
    return [r async for r in erp.changes("sale.order", since, follow=False)]


def test_the_domain_reads_the_boundary_second_then_pages_by_keyset() -> None:
    since = datetime(2025, 5, 6, 8, 0, 0, 700_000, tzinfo=UTC)
    assert feed_domain(since, None) == [("write_date", ">=", T0)]
    after = Cursor(parse_odoo_datetime(T1), cursor_id(42))
    assert feed_domain(since, after) == ["|", ("write_date", ">", T1),
                                         "&", ("write_date", "=", T1), ("id", ">", 42)]  # fmt: skip
    assert feed_domain(None, None) == []


def test_cursor_ids_sort_numerically_as_text() -> None:
    assert cursor_id(9) < cursor_id(10) < cursor_id(100)
    assert Cursor.from_text(
        Cursor(parse_odoo_datetime(T0), cursor_id(7)).to_text()
    ).id == "7".zfill(12)


async def test_rows_sharing_one_second_across_pages_are_all_emitted_once() -> None:
    fake = FakeOdoo()
    ids = orders(fake, T0, T0, T0, T0, T0)
    async with fake.connector(page_size=2) as erp:
        records = await feed(erp)
        again = await feed(erp, records[-1].cursor)
    assert [int(r.id) for r in records] == ids and again == []
    assert [c for c in fake.calls if c[1] == "search_read"] == [("sale.order", "search_read")] * 6
    assert records[-1].cursor == Cursor(parse_odoo_datetime(T0), cursor_id(ids[-1]))


async def test_a_row_committed_late_in_an_already_read_second_is_still_emitted() -> None:
    fake = FakeOdoo()
    first = orders(fake, T0, T1)
    async with fake.connector() as erp:
        records = await feed(erp)
        late = orders(fake, T0)  # same second as an emitted row, higher id, seen only now
        more = await feed(erp, records[-1].cursor)
    assert [int(r.id) for r in records] == first
    assert [int(r.id) for r in more] == late
    assert more[0].cursor == records[-1].cursor  # the cursor never moves backwards


async def test_resume_from_a_committed_cursor_skips_that_row_and_sees_newer_ones() -> None:
    fake = FakeOdoo()
    ids = orders(fake, T0, T1)
    async with fake.connector(poll_overlap_s=1) as first:
        committed = [r.cursor async for r in first.changes("sale.order", None, follow=False)][-1]
    since = Cursor.from_text(committed.to_text())  # as the poller stored it: with its version
    async with fake.connector(poll_overlap_s=1) as erp:
        newer = orders(fake, "2025-05-06 08:00:02")
        seen = [int(r.id) async for r in erp.changes("sale.order", since, follow=False)]
    assert seen == [ids[0], *newer]  # the overlap re-reads T0 (at-least-once), not the cursor row


async def test_resume_from_a_cursor_without_version_emits_that_row_once_more() -> None:
    fake = FakeOdoo()
    ids = orders(fake, T0, T1)
    since = Cursor.from_text(f"{parse_odoo_datetime(T1).isoformat()}|{cursor_id(ids[1])}")
    async with fake.connector(poll_overlap_s=1) as erp:
        seen = [r async for r in erp.changes("sale.order", since, follow=False)]
        again = [r async for r in erp.changes("sale.order", seen[-1].cursor, follow=False)]
    assert [int(r.id) for r in seen] == ids  # stored before versions: its row may have changed
    assert seen[-1].cursor == since and seen[-1].cursor.version is not None
    assert again == []


async def test_a_row_changed_again_within_its_second_is_emitted_again() -> None:
    fake = FakeOdoo()
    [picking] = orders(fake, T0)
    async with fake.connector() as erp:
        records = await feed(erp)
        fake.tables["sale.order"][picking]["state"] = "done"  # same write_date second
        changed = await feed(erp, records[-1].cursor)
        unchanged = await feed(erp, changed[-1].cursor)
    assert [r.payload["state"] for r in records + changed] == ["sale", "done"]
    assert unchanged == []
    assert changed[0].cursor == records[0].cursor  # same position, never backwards
    assert changed[0].cursor.version != records[0].cursor.version


async def test_a_restart_after_a_change_within_the_cursor_second_emits_it() -> None:
    fake = FakeOdoo()
    [order] = orders(fake, T0)
    async with fake.connector() as erp:
        [record] = [r async for r in erp.changes("sale.order", None, follow=False)]
    fake.tables["sale.order"][order]["state"] = "cancel"  # same second, while we were down
    since = Cursor.from_text(record.cursor.to_text())
    async with fake.connector() as erp:
        after = [r async for r in erp.changes("sale.order", since, follow=False)]
    assert [r.payload["state"] for r in after] == ["cancel"]


async def test_records_carry_origin_utc_time_and_the_payload() -> None:
    fake = FakeOdoo()
    orders(fake, T0, author=3)
    orders(fake, T1, author=1)
    async with fake.connector() as erp:
        records = [r async for r in erp.changes("sale.order", None, follow=False)]
        own = [r.origin == str(await erp.uid()) for r in records]  # how flows spot echoes
    assert [r.origin for r in records] == ["3", "1"] and own == [True, False]
    assert records[0].modified_at == datetime(2025, 5, 6, 8, 0, tzinfo=UTC)
    assert records[0].modified_at.utcoffset() == timedelta(0)
    assert records[0].entity == "sale.order" and records[0].payload["state"] == "sale"


async def test_changes_follows_with_the_poll_interval() -> None:
    fake = FakeOdoo()
    orders(fake, T0)
    async with fake.connector(poll_interval_s=7) as erp:
        slept: list[float] = []

        async def sleep(seconds: float) -> None:
            slept.append(seconds)
            orders(fake, T1)

        erp._sleep_between_polls = sleep
        feed = erp.changes("sale.order", None)
        got = [await anext(feed), await anext(feed)]
        await feed.aclose()
    assert [r.payload["write_date"] for r in got] == [T0, T1] and slept == [7]


async def test_a_pass_per_call_resumed_from_its_own_last_cursor_repeats_nothing() -> None:
    fake = FakeOdoo()
    first = orders(fake, T0, T0, T1)
    async with fake.connector(poll_overlap_s=60) as erp:
        seen = [r async for r in erp.changes("sale.order", None, follow=False)]
        again = [r async for r in erp.changes("sale.order", seen[-1].cursor, follow=False)]
        newer = orders(fake, T1)
        more = [r async for r in erp.changes("sale.order", seen[-1].cursor, follow=False)]
        restarted = [r async for r in erp.changes("sale.order", seen[0].cursor, follow=False)]
    assert [int(r.id) for r in seen] == first and again == []
    assert [int(r.id) for r in more] == newer
    assert [int(r.id) for r in restarted] == [*first[1:], *newer]  # another cursor: overlap
