"""Fewer API calls, counted from the sandboxes' request logs: Composite polls, Feishu's cursor."""

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from bizbus.connectors.base import Cursor, Outcome, SinkCommand, SourceRecord
from bizbus.connectors.errors import RejectedError
from bizbus.connectors.feishu import FeishuConnector
from bizbus.connectors.salesforce import SalesforceConnector
from bizbus.connectors.salesforce.composite import query_many
from tests.integration.test_connector_feishu_sandbox import approve, file_trip, oa_settings
from tests.integration.test_connector_salesforce_sandbox import FAST, crm_settings

FEEDS = ("Order", "Account", "Product2", "PricebookEntry")


TOKEN_PATHS = ("/services/oauth2/", "/open-apis/auth/")  # logins: not counted as API calls


async def requests_since(url: str, since: int) -> list[dict[str, Any]]:
    """The API calls the sandbox logged after call number `since` (logins left out)."""
    async with httpx.AsyncClient(base_url=url, timeout=10, trust_env=False) as http:
        logged: list[dict[str, Any]] = (
            await http.get("/_sandbox/requests", params={"since": since})
        ).json()["requests"]
    return [r for r in logged if not r["path"].startswith(TOKEN_PATHS)]


async def request_count(url: str) -> int:
    async with httpx.AsyncClient(base_url=url, timeout=10, trust_env=False) as http:
        total: int = (await http.get("/_sandbox/requests")).json()["total"]
    return total


@pytest.fixture
async def crm(crm_url: str) -> AsyncIterator[SalesforceConnector]:
    async with SalesforceConnector(crm_settings(crm_url), retry=FAST) as connector:
        yield connector


async def drain(crm: SalesforceConnector, entity: str, since: Cursor | None) -> list[SourceRecord]:
    return [record async for record in crm.changes(entity, since)]


async def test_every_crm_feed_is_read_in_one_composite_call(
    crm: SalesforceConnector, crm_url: str
) -> None:
    cursors = {entity: None for entity in FEEDS}
    for entity in FEEDS:  # catch up first: the next pass reads only what changes below
        records = await drain(crm, entity, None)
        cursors[entity] = records[-1].cursor if records else None  # type: ignore[assignment]
    key = f"T-ACC-{uuid.uuid4().hex[:8]}"
    created = await crm.apply(SinkCommand("Account", key, {"Name": "名片客户 " + key}))
    assert created.outcome is Outcome.CREATED
    product = f"T-PRD-{uuid.uuid4().hex[:8]}"
    await crm.apply(SinkCommand("Product2", product, {"Name": product, "ProductCode": product}))

    start = await request_count(crm_url)
    await crm.prefetch_changes(cursors)
    found = {entity: await drain(crm, entity, cursors[entity]) for entity in FEEDS}

    calls = [r["path"] for r in await requests_since(crm_url, start)]
    assert calls == ["/services/data/v60.0/composite"]  # four feeds, one API call
    assert [r.payload["ErpCustomerRef__c"] for r in found["Account"]] == [key]
    assert [r.payload["ErpProductRef__c"] for r in found["Product2"]] == [product]
    assert found["Order"] == [] and found["PricebookEntry"] == []

    # Without a prefetch each feed pays its own query again.
    start = await request_count(crm_url)
    for entity in FEEDS:
        await drain(crm, entity, found[entity][-1].cursor if found[entity] else cursors[entity])
    assert len(await requests_since(crm_url, start)) == len(FEEDS)


async def test_one_failing_query_of_a_composite_call_costs_no_other(
    crm: SalesforceConnector, crm_url: str
) -> None:
    start = await request_count(crm_url)
    good, bad = await query_many(
        crm, [("SELECT Id FROM Account LIMIT 1", False), ("SELECT Nope__c FROM Account", False)]
    )
    assert isinstance(good, dict) and len(good["records"]) == 1
    assert isinstance(bad, RejectedError) and bad.status_code == 400
    assert len(await requests_since(crm_url, start)) == 1


async def test_six_queries_take_two_composite_calls_of_at_most_five(
    crm: SalesforceConnector, crm_url: str
) -> None:
    start = await request_count(crm_url)
    answers = await query_many(crm, [("SELECT Id FROM Account LIMIT 1", False)] * 6)
    assert all(isinstance(a, dict) for a in answers) and len(answers) == 6
    calls = [r["path"] for r in await requests_since(crm_url, start)]
    assert calls == ["/services/data/v60.0/composite"] * 2


async def test_the_sandbox_refuses_a_sixth_query_in_one_composite_call(
    crm: SalesforceConnector,
) -> None:
    sub = {"method": "GET", "url": "/services/data/v60.0/query?q=SELECT+Id+FROM+Account"}
    body = {"compositeRequest": [{**sub, "referenceId": f"q{i}"} for i in range(6)]}
    with pytest.raises(RejectedError) as refused:
        await crm.request("POST", "/services/data/v60.0/composite", json=body)
    assert refused.value.status_code == 400


async def test_a_second_catch_up_pass_fetches_only_new_and_open_instances(oa_url: str) -> None:
    async with FeishuConnector(oa_settings(oa_url)) as oa:
        decided = await file_trip(oa, f"trip-{uuid.uuid4()}", "杭州")
        await approve(oa, decided)
        still_open = await file_trip(oa, f"trip-{uuid.uuid4()}", "南京")
        first = [r async for r in oa.changes("approval_instance", None)]
        assert {decided, still_open} <= {r.id for r in first}
        cursor = first[-1].cursor
        await approve(oa, still_open)
        since_approval = await request_count(oa_url)
        second = [r async for r in oa.changes("approval_instance", cursor)]
        paths = [r["path"] for r in await requests_since(oa_url, since_approval)]
        fetched = {p.rsplit("/", 1)[-1] for p in paths if _is_detail(p)}
        assert decided not in fetched  # decided and already seen: not fetched again
        assert still_open in fetched
        assert [(r.id, r.payload["status"]) for r in second if r.cursor > cursor] == [
            (still_open, "APPROVED")
        ]


def _is_detail(path: str) -> bool:
    head, _, code = path.rpartition("/")
    return head == "/open-apis/approval/v4/instances" and code not in ("", "query")
