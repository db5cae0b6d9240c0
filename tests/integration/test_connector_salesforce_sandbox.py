"""SalesforceConnector against the sandbox CRM over real sockets: feeds, upserts, echoes."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from bizbus.connectors.base import Cursor, Outcome, SinkCommand, SourceRecord
from bizbus.connectors.retry import RetryPolicy
from bizbus.connectors.salesforce import SalesforceConnector, SalesforceSettings, format_soql
from bizbus.connectors.settings import load_settings
from bizbus.deploy.sandbox.registry import SYSTEMS

V = "/services/data/v60.0"
FAST = RetryPolicy(attempts=3, max_delay=5.0, initial=0.05, max_backoff=0.2, jitter=0.05)


def crm_settings(crm_url: str, **values: Any) -> SalesforceSettings:
    creds = SYSTEMS["crm"].credentials
    return load_settings(
        SalesforceSettings,
        base_url=crm_url,
        client_id=creds["client_id"],
        client_secret=creds["client_secret"],
        **{"poll_interval_s": 0.05, "poll_overlap_s": 5.0, **values},
    )


@pytest.fixture
async def control(crm_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=crm_url, timeout=5) as client:
        yield client


@pytest.fixture
async def crm(crm_url: str) -> AsyncIterator[SalesforceConnector]:
    async with SalesforceConnector(crm_settings(crm_url), retry=FAST) as connector:
        yield connector


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def new_order(crm: SalesforceConnector, **fields: Any) -> str:
    key = unique("T-ORD")
    payload = {"Account": {"ErpCustomerRef__c": "C10001"}, "EffectiveDate": "2026-11-27"}
    result = await crm.apply(SinkCommand("Order", key, {**payload, **fields}))
    assert result.outcome is Outcome.CREATED
    return result.external_ids["salesforce_id"]


class Feed:
    """One entity's feed, pass by pass, each resuming from the last cursor (as the poller does)."""

    def __init__(self, crm: SalesforceConnector, entity: str) -> None:
        self.crm, self.entity = crm, entity
        self.cursor: Cursor | None = None

    async def next(self) -> list[SourceRecord]:
        records = [r async for r in self.crm.changes(self.entity, self.cursor)]
        if records:
            self.cursor = records[-1].cursor
        return records


async def caught_up(crm: SalesforceConnector, entity: str) -> Feed:
    feed = Feed(crm, entity)
    await feed.next()
    return feed


async def effects_for(control: httpx.AsyncClient, record_id: str) -> list[dict[str, Any]]:
    rows = (await control.get("/_sandbox/effects")).json()["effects"]
    return [row for row in rows if row["record_id"] == record_id]


async def human_token(control: httpx.AsyncClient, username: str) -> str:
    answer = await control.post(
        "/services/oauth2/token",
        data={
            "grant_type": "password",
            "username": username,
            "password": "sandbox-user-password",
            **SYSTEMS["crm"].credentials,
        },
    )
    assert answer.status_code == 200
    return str(answer.json()["access_token"])


async def test_a_new_order_is_polled_once_with_its_items_and_our_echo_hint(
    crm: SalesforceConnector,
) -> None:
    feed = await caught_up(crm, "Order")
    order_id = await new_order(crm)
    seen = await feed.next()
    mine = [record for record in seen if record.id == order_id]
    assert len(mine) == 1
    record = mine[0]
    assert record.entity == "Order" and not record.deleted
    assert record.client == crm.client_tag == "bizbus"
    assert record.origin == crm.integration_user_id
    assert record.payload["OrderItems"] == {"totalSize": 0, "done": True, "records": []}
    assert feed.cursor is not None and record.cursor <= feed.cursor
    assert record.modified_at == record.cursor.modified
    for _ in range(2):
        again = await feed.next()
        assert order_id not in [r.id for r in again]


async def test_changes_follows_the_feed_and_never_repeats_a_record(
    crm: SalesforceConnector,
) -> None:
    caught = await caught_up(crm, "Order")
    assert caught.cursor is not None
    feed = crm.changes("Order", caught.cursor, follow=True)
    received: list[SourceRecord] = []
    try:
        first = await new_order(crm)
        second = await new_order(crm, Status="Draft")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 1.5  # about 30 polls at 50 ms
        while (remaining := deadline - loop.time()) > 0:
            try:
                received.append(await asyncio.wait_for(anext(feed), timeout=remaining))
            except TimeoutError:
                break
    finally:
        await feed.aclose()
    ids = [record.id for record in received]
    assert ids.count(first) == 1 and ids.count(second) == 1
    cursors = [record.cursor for record in received]
    assert cursors == sorted(cursors)


async def test_rows_sharing_one_timestamp_are_all_read_across_small_batches(
    crm_url: str, control: httpx.AsyncClient
) -> None:
    async with SalesforceConnector(crm_settings(crm_url, page_size=2), retry=FAST) as crm:
        feed = await caught_up(crm, "Account")
        assert (await control.post("/_sandbox/clock", json={"manual": True})).status_code == 200
        try:
            refs = [unique("T-CUST") for _ in range(5)]
            for ref in refs:
                await crm.apply(SinkCommand("Account", ref, {"Name": f"同时公司 {ref}"}))
        finally:
            await control.post("/_sandbox/clock", json={"manual": False})
        seen = await feed.next()
        mine = [r for r in seen if r.payload.get("ErpCustomerRef__c") in refs]
        assert sorted(r.payload["ErpCustomerRef__c"] for r in mine) == sorted(refs)
        assert len({r.modified_at for r in mine}) == 1  # one frozen millisecond
        again = await feed.next()
        assert not [r for r in again if r.payload.get("ErpCustomerRef__c") in refs]


async def test_an_order_changed_again_within_its_millisecond_is_read_again(
    crm: SalesforceConnector, crm_url: str, control: httpx.AsyncClient
) -> None:
    """Writes sharing one `SystemModstamp` (the sandbox clock frozen): the last one is read."""
    feed = await caught_up(crm, "Order")
    token = await human_token(control, "wang.fang@hengli-demo.cn")

    async def enter_po(order_id: str, po_number: str) -> None:
        answer = await control.patch(
            f"{V}/sobjects/Order/{order_id}",
            json={"PoNumber": po_number},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert answer.status_code == 204

    def mine(records: list[SourceRecord], order_id: str) -> list[SourceRecord]:
        return [r for r in records if r.id == order_id]

    assert (await control.post("/_sandbox/clock", json={"manual": True})).status_code == 200
    try:
        order_id = await new_order(crm)
        created = await feed.next()
        [first] = mine(created, order_id)
        await enter_po(order_id, "PO-2026-0815")
        changed = await feed.next()
        [second] = mine(changed, order_id)
        assert second.modified_at == first.modified_at  # one frozen millisecond
        assert second.payload["PoNumber"] == "PO-2026-0815"
        assert second.cursor >= first.cursor
        assert mine(await feed.next(), order_id) == []  # unchanged: not again
        # A third write in the same millisecond while the worker is down; it resumes from
        # the cursor text it stored (a new connector: nothing remembered but that text).
        stored = changed[-1].cursor.to_text()
        await enter_po(order_id, "PO-2026-0816")
        async with SalesforceConnector(crm_settings(crm_url), retry=FAST) as restarted:
            after = [r async for r in restarted.changes("Order", Cursor.from_text(stored))]
    finally:
        await control.post("/_sandbox/clock", json={"manual": False})
    assert [r.payload["PoNumber"] for r in mine(after, order_id)] == ["PO-2026-0816"]


async def test_upsert_twice_leaves_one_record_and_one_write(
    crm: SalesforceConnector, control: httpx.AsyncClient
) -> None:
    ref = unique("HL-T")
    command = SinkCommand("Product2", ref, {"Name": "HL-VMC650 立式加工中心", "IsActive": True})
    first = await crm.apply(command)
    second = await crm.apply(command)
    assert (first.outcome, second.outcome) == (Outcome.CREATED, Outcome.UNCHANGED)
    assert first.external_ids == second.external_ids
    product_id = first.external_ids["salesforce_id"]
    count = await crm.count(
        format_soql("SELECT COUNT() FROM Product2 WHERE ErpProductRef__c = {r}", r=ref)
    )
    assert count == 1
    writes = await effects_for(control, product_id)
    assert [(w["action"], w["key"], w["client"]) for w in writes] == [
        ("upsert-create", f"ErpProductRef__c={ref}", "bizbus")
    ]


async def test_upsert_without_compare_writes_again_but_keeps_one_record(
    crm_url: str, control: httpx.AsyncClient
) -> None:
    settings = crm_settings(crm_url, compare_before_write=False)
    async with SalesforceConnector(settings, retry=FAST) as crm:
        ref = unique("CT")
        command = SinkCommand("Account", ref, {"Name": "无锡测试机械有限公司"})
        outcomes = [(await crm.apply(command)).outcome for _ in range(2)]
        assert outcomes == [Outcome.CREATED, Outcome.UPDATED]
        rows = await crm.query(
            format_soql("SELECT Id FROM Account WHERE ErpCustomerRef__c = {r}", r=ref)
        )
        assert len(rows) == 1
        writes = await effects_for(control, rows[0]["Id"])
        assert [w["action"] for w in writes] == ["upsert-create", "upsert-update"]


async def test_erp_fields_are_written_back_on_an_order_by_its_id(
    crm: SalesforceConnector, control: httpx.AsyncClient
) -> None:
    order_id = await new_order(crm)
    back = {
        "ErpOrderRef__c": unique("SO"),
        "ErpOrderNumber__c": "S00042",
        "ErpStatus__c": "Confirmed",
    }
    command = SinkCommand("Order", f"Id={order_id}", back)
    assert (await crm.apply(command)).outcome is Outcome.UPDATED
    assert (await crm.apply(command)).outcome is Outcome.UNCHANGED
    moved = await crm.update_by_id("Order", order_id, {"ErpStatus__c": "Planned"})
    assert moved.outcome is Outcome.UPDATED
    record = await crm.get("Order", order_id)
    assert {k: record[k] for k in back} == {**back, "ErpStatus__c": "Planned"}
    writes = await effects_for(control, order_id)
    assert [(w["action"], w["client"]) for w in writes] == [
        ("upsert-create", "bizbus"),
        ("update", "bizbus"),
        ("update", "bizbus"),
    ]


@pytest.mark.parametrize("echo_field", ["bizbus_LastChangeClient__c", ""])
async def test_echo_hint_tells_our_writes_from_a_human_edit(
    crm_url: str, control: httpx.AsyncClient, echo_field: str
) -> None:
    async with SalesforceConnector(crm_settings(crm_url, echo_field=echo_field), retry=FAST) as crm:
        feed = await caught_up(crm, "Order")
        ours = await new_order(crm)
        human = await new_order(crm)
        token = await human_token(control, "wang.fang@hengli-demo.cn")
        edited = await control.patch(
            f"{V}/sobjects/Order/{human}",
            json={"Description": "客户要求提前交货"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert edited.status_code == 204
        by_id = {r.id: r for r in await feed.next()}
        assert by_id[ours].client == crm.client_tag == "bizbus"  # how flows spot our echoes
        assert by_id[human].client is None
        assert by_id[human].origin != crm.integration_user_id


async def test_a_price_book_entry_is_created_in_the_standard_book_by_reference(
    crm: SalesforceConnector,
) -> None:
    product_ref, price_ref = unique("HL-T"), unique("HL-T-LIST")
    await crm.apply(SinkCommand("Product2", product_ref, {"Name": "HL-SM-5.5 伺服电机 5.5kW"}))
    entry = {"Product2": {"ErpProductRef__c": product_ref}, "UnitPrice": 1200, "IsActive": True}
    created = await crm.apply(SinkCommand("PricebookEntry", price_ref, entry))
    assert created.outcome is Outcome.CREATED
    changed = await crm.apply(
        SinkCommand("PricebookEntry", price_ref, {**entry, "UnitPrice": 1350})
    )
    assert changed.outcome is Outcome.UPDATED
    record = await crm.get("PricebookEntry", created.external_ids["salesforce_id"])
    assert record["UnitPrice"] == 1350
    assert record["Pricebook2Id"] == await crm.standard_pricebook_id()
    assert record["Product2Id"] == await crm.find_id("Product2", "ErpProductRef__c", product_ref)


async def test_open_orders_on_an_old_price_are_flagged_once(crm: SalesforceConnector) -> None:
    product_ref, price_ref = unique("HL-T"), unique("HL-T-LIST")
    product = await crm.apply(SinkCommand("Product2", product_ref, {"Name": "HL-BS-32 滚珠丝杠"}))
    product_id = product.external_ids["salesforce_id"]
    entry = {"Product2": {"ErpProductRef__c": product_ref}, "UnitPrice": 100, "IsActive": True}
    await crm.apply(SinkCommand("PricebookEntry", price_ref, entry))
    standard = await crm.standard_pricebook_id()
    orders = {
        status: await new_order(crm, Status=status, Pricebook2Id=standard)
        for status in ("Draft", "Activated")
    }
    for status, order_id in orders.items():
        line = {
            "Order": {"BizbusKey__c": (await crm.get("Order", order_id))["BizbusKey__c"]},
            "PricebookEntry": {"ErpPriceRef__c": price_ref},
            "Quantity": 2,
            "UnitPrice": 100,
        }
        await crm.apply(SinkCommand("OrderItem", unique(f"L-{status}"), line))
    flagged = await crm.flag_open_orders_on_price(product_id, 120)
    assert flagged.orders == (orders["Draft"],) and len(flagged.items) == 1
    assert (await crm.get("Order", orders["Draft"]))["PriceReviewNeeded__c"] is True
    assert (await crm.get("Order", orders["Activated"]))["PriceReviewNeeded__c"] is False
    again = await crm.flag_open_orders_on_price(product_id, 120)
    assert again.orders == () and again.items == ()
    assert (await crm.flag_open_orders_on_price(product_id, 100)).orders == ()
