"""Salesforce feeds through MockTransport: an in-memory org that answers our polling SOQL.

Equal timestamps across small batches, late commits inside the overlap, id tie-breaks,
resuming from a cursor, order items, deletions and echo hints.
"""

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from bizbus.connectors.base import Cursor, SourceRecord
from bizbus.connectors.salesforce import SalesforceConnector, SalesforceSettings
from bizbus.connectors.salesforce.soql import format_datetime, parse_datetime
from bizbus.connectors.settings import load_settings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "salesforce"
T0 = datetime(2026, 11, 27, 5, 0, tzinfo=UTC)
INTEGRATION_USER = "0055j000000CaR7AAK"  # the user id in the recorded token answer
HUMAN = "0055j000000CaR9AAK"
_AFTER = re.compile(r"\(SystemModstamp > (\S+) OR \(SystemModstamp = \S+ AND Id > '(\w+)'\)\)")
_SINCE = re.compile(r"SystemModstamp >= (\S+)")
_LIMIT = re.compile(r"LIMIT (\d+)$")


def stamp(seconds: float) -> str:
    return format_datetime(T0 + timedelta(seconds=seconds)).replace("Z", "+0000")


class FeedOrg:
    """Holds sObject rows and answers the connector's SOQL as Salesforce would."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.items: list[dict[str, Any]] = []
        self.queries: list[tuple[str, str]] = []

    def feed_queries(self) -> list[str]:
        return [soql for _, soql in self.queries if " FROM OrderItem " not in soql]

    def add(self, ident: str, seconds: float, **fields: Any) -> dict[str, Any]:
        row = {
            "attributes": {"type": "Order"},
            "Id": ident,
            "IsDeleted": False,
            "SystemModstamp": stamp(seconds),
            "LastModifiedById": INTEGRATION_USER,
            "bizbus_LastChangeClient__c": "bizbus",
            **fields,
        }
        self.rows.append(row)
        return row

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/services/oauth2/token":
            data = json.loads((FIXTURES / "token.json").read_text(encoding="utf-8"))
            return httpx.Response(200, json=data["body"])
        soql = request.url.params["q"]
        resource = request.url.path.rsplit("/", 1)[-1]
        self.queries.append((resource, soql))
        if " FROM OrderItem " in soql:
            wanted = set(re.findall(r"'(\w+)'", soql))
            found = [item for item in self.items if item["OrderId"] in wanted]
            return httpx.Response(200, json={"totalSize": len(found), "done": True,
                                             "records": found})  # fmt: skip
        rows = [r for r in self.rows if resource == "queryAll" or not r["IsDeleted"]]
        key = self._key
        if match := _AFTER.search(soql):
            after = (parse_datetime(match[1]), match[2])
            rows = [r for r in rows if key(r) > after]
        elif match := _SINCE.search(soql):
            since = parse_datetime(match[1])
            rows = [r for r in rows if key(r)[0] >= since]
        rows.sort(key=key)
        if limit := _LIMIT.search(soql):
            rows = rows[: int(limit[1])]
        return httpx.Response(200, json={"totalSize": len(rows), "done": True, "records": rows})

    @staticmethod
    def _key(row: dict[str, Any]) -> tuple[datetime, str]:
        return parse_datetime(row["SystemModstamp"]), row["Id"]


def connector(
    org: FeedOrg, *, poll_sleep: Any = asyncio.sleep, **values: Any
) -> SalesforceConnector:
    loaded = load_settings(
        SalesforceSettings,
        **{
            "base_url": "https://hengli.my.salesforce.com",
            "client_id": "3MVG9",
            "client_secret": "s3cr3t",
            "page_size": 2,
            "poll_overlap_s": 10,
            **values,
        },
    )
    return SalesforceConnector(loaded, transport=httpx.MockTransport(org), poll_sleep=poll_sleep)


async def feed(crm: SalesforceConnector, since: Cursor | None = None) -> list[SourceRecord]:
    """One pass of the Order feed after ``since``, as the poller runs it."""
    return [r async for r in crm.changes("Order", since)]


def ids(records: list[SourceRecord]) -> list[str]:
    return [record.id for record in records]


async def test_rows_sharing_one_millisecond_are_read_past_the_batch_limit_once() -> None:
    org = FeedOrg()
    for n in range(7):
        org.add(f"801A{n}", 0)
    async with connector(org) as crm:
        first = await feed(crm)
        again = await feed(crm, first[-1].cursor)
    assert ids(first) == [f"801A{n}" for n in range(7)]
    assert again == []
    # 4 keyset batches of 2 the first time; the second poll re-reads the window, not forever.
    assert len(org.feed_queries()) == 4 + 4
    feed_resources = {res for res, soql in org.queries if " FROM OrderItem " not in soql}
    assert feed_resources == {"queryAll"}
    assert "ORDER BY SystemModstamp, Id LIMIT 2" in org.queries[0][1]


async def test_late_commits_inside_the_overlap_are_emitted_and_older_ones_are_not() -> None:
    org = FeedOrg()
    org.add("801B", 100)
    org.add("801D", 100)
    async with connector(org) as crm:
        first = await feed(crm)
        org.add("801C", 100)  # same millisecond, an id below the watermark's
        org.add("801E", 95)  # committed late, 5 s before the watermark
        org.add("801F", 80)  # committed later than the overlap can see
        second = await feed(crm, first[-1].cursor)
        third = await feed(crm, second[-1].cursor)
    assert ids(first) == ["801B", "801D"]
    assert ids(second) == ["801E", "801C"]
    assert third == []
    high = Cursor(parse_datetime(stamp(100)), "801D")
    # Cursors never go backwards: a late row carries the watermark, not its own position.
    assert [r.cursor for r in second] == [high, high]
    assert second[0].modified_at == parse_datetime(stamp(95))


async def test_resuming_from_a_cursor_rereads_the_overlap_but_not_the_cursor_row() -> None:
    org = FeedOrg()
    for n, seconds in enumerate([0, 50, 55, 58, 60]):
        org.add(f"801C{n}", seconds)
    async with connector(org, page_size=200) as crm:
        everything = [r async for r in crm.changes("Order", None, follow=False)]
        committed = everything[3].cursor
        resumed = [r async for r in crm.changes("Order", committed, follow=False)]
    assert ids(everything) == ["801C0", "801C1", "801C2", "801C3", "801C4"]
    assert ids(resumed) == ["801C1", "801C2", "801C4"]
    assert org.feed_queries()[-1].endswith(
        "WHERE SystemModstamp >= 2026-11-27T05:00:48.000Z ORDER BY SystemModstamp, Id LIMIT 200"
    )


async def test_orders_carry_their_items_and_deletions_are_flagged() -> None:
    org = FeedOrg()
    org.add("801D1", 1)
    org.add("801D2", 2, IsDeleted=True)
    org.items = [
        {"Id": "802X1", "OrderId": "801D1", "Quantity": 2.0, "UnitPrice": 1350.0},
        {"Id": "802X2", "OrderId": "801D1", "Quantity": 1.0, "UnitPrice": 80.0},
    ]
    async with connector(org) as crm:
        records = await feed(crm)
    live, deleted = records
    assert [i["Id"] for i in live.payload["OrderItems"]["records"]] == ["802X1", "802X2"]
    assert live.payload["OrderItems"]["totalSize"] == 2 and not live.deleted
    assert deleted.deleted and deleted.payload["OrderItems"]["records"] == []
    assert "attributes" not in live.payload
    items_query = next(q for _, q in org.queries if " FROM OrderItem " in q)
    assert "WHERE OrderId IN ('801D1', '801D2')" in items_query


@pytest.mark.parametrize("echo_field", ["bizbus_LastChangeClient__c", ""])
async def test_echo_hint_from_the_field_or_the_integration_user(echo_field: str) -> None:
    org = FeedOrg()
    org.add("801E1", 1)
    org.add("801E2", 2, LastModifiedById=HUMAN, bizbus_LastChangeClient__c=None)
    async with connector(org, echo_field=echo_field) as crm:
        ours, human = [r async for r in crm.changes("Account", None, follow=False)]
    assert (ours.client, human.client) == ("bizbus", None)
    assert (ours.origin, human.origin) == (INTEGRATION_USER, HUMAN)
    assert ("bizbus_LastChangeClient__c" in org.queries[0][1]) is bool(echo_field)


async def test_changes_keeps_polling_until_closed() -> None:
    org = FeedOrg()
    org.add("801F1", 1)
    polls: list[float] = []

    async def between_polls(seconds: float) -> None:
        polls.append(seconds)
        if len(polls) == 2:
            org.add("801F2", 2)

    async with connector(org, poll_interval_s=0.5, poll_sleep=between_polls) as crm:
        feed = crm.changes("Order", None, follow=True)
        first = await asyncio.wait_for(anext(feed), timeout=2)
        second = await asyncio.wait_for(anext(feed), timeout=2)
        await feed.aclose()
    assert (first.id, second.id) == ("801F1", "801F2")
    assert polls == [0.5, 0.5]


async def test_ticked_catch_ups_from_the_last_cursor_repeat_nothing() -> None:
    org = FeedOrg()
    org.add("801G1", 1)
    org.add("801G2", 2)
    async with connector(org) as crm:
        first = [r async for r in crm.changes("Order", None)]
        org.add("801G3", 3)
        org.add("801G0", 2)  # a late commit at the watermark's millisecond
        second = [r async for r in crm.changes("Order", first[-1].cursor)]
        third = [r async for r in crm.changes("Order", second[-1].cursor)]
    assert (ids(first), ids(second), third) == (["801G1", "801G2"], ["801G0", "801G3"], [])
    async with connector(org) as restarted:  # no memory: the overlap is read again
        replay = [r async for r in restarted.changes("Order", second[-1].cursor)]
    assert ids(replay) == ["801G1", "801G0", "801G2"]  # cursor order: (time, id)
