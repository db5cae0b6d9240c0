"""SalesforceConnector's Collections writes and batched queries against the sandbox CRM.

Counted from the sandbox's request log: 450 records cost 3 calls, 7 queries 2 calls, and a
record Salesforce refuses fails alone with its own classified error.
"""

import uuid
from collections.abc import AsyncIterator

import pytest

from bizbus.connectors.errors import RejectedError
from bizbus.connectors.salesforce import SalesforceConnector, format_soql
from tests.integration.test_api_economy import request_count, requests_since
from tests.integration.test_connector_salesforce_sandbox import FAST, crm_settings


@pytest.fixture
async def crm(crm_url: str) -> AsyncIterator[SalesforceConnector]:
    async with SalesforceConnector(crm_settings(crm_url), retry=FAST) as connector:
        yield connector


async def test_450_records_are_created_and_updated_in_3_calls_each(
    crm: SalesforceConnector, crm_url: str
) -> None:
    tag = uuid.uuid4().hex[:6]
    records = [("Product2", {"Name": f"Bulk {tag} {i}", "ProductCode": f"HL-B{tag}{i}"})
               for i in range(450)]  # fmt: skip
    await crm.ping()
    since = await request_count(crm_url)
    created = await crm.create_many(records)
    assert len(await requests_since(crm_url, since)) == 3
    assert all(r.success and r.id for r in created)
    since = await request_count(crm_url)
    updated = await crm.update_many(
        [("Product2", str(r.id), {"Description": f"d{i}"}) for i, r in enumerate(created)]
    )
    assert len(await requests_since(crm_url, since)) == 3
    assert [r.id for r in updated] == [r.id for r in created]
    soql = format_soql("SELECT Id, Description FROM Product2 WHERE ProductCode LIKE {p}",
                       p=f"HL-B{tag}%")  # fmt: skip
    rows = await crm.query(soql)
    by_id = {row["Id"]: row["Description"] for row in rows}
    assert [by_id[str(r.id)] for r in created] == [f"d{i}" for i in range(450)]


async def test_a_refused_record_fails_alone_with_a_rejected_error(
    crm: SalesforceConnector,
) -> None:
    tag = uuid.uuid4().hex[:6]
    created = await crm.create_many([("Product2", {"Name": f"Ok {tag}"}),
                                     ("Product2", {"NoSuchField__c": 1})])  # fmt: skip
    assert created[0].error("Product2") is None
    error = created[1].error("Product2")
    assert isinstance(error, RejectedError)
    assert "INVALID_FIELD" in str(error) or "NoSuchField__c" in str(error)


async def test_seven_queries_cost_two_calls_and_keep_their_order(
    crm: SalesforceConnector, crm_url: str
) -> None:
    await crm.ping()
    since = await request_count(crm_url)
    queries = [format_soql("SELECT Id FROM Product2 LIMIT {n}", n=n) for n in range(1, 8)]
    answers = await crm.query_several(queries)
    assert len(await requests_since(crm_url, since)) == 2
    assert [len(rows) for rows in answers] == list(range(1, 8))
