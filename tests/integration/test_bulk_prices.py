"""ERP price changes reach the CRM price book in bulk: calls counted from the sandbox's own log.

A worker running `catalog` (polls made rare, so the CRM's request log holds the price sink's
calls) is handed N (1,000) price-book commands for N CRM products (linked to the ERP as the
catalog links them), 90 % of them with an entry to update and 10 % without one, plus an earlier
price for 5 % of them sent first; each asks for
open orders to be flagged, as an ERP price change does. Every price must end right (read from
the CRM after counting) for at most N/100 + a few API calls. `BIZBUS_TEST_PRICE_CHANGES=10000`
runs it at the issue's size.
"""

import os
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from bizbus.connectors.salesforce import SalesforceConnector, format_soql
from bizbus.flows.runtime.kafka_config import producer
from bizbus.schemas import Envelope, PriceBookEntryUpsertRequestedV1, make_event
from bizbus.schemas.codec import encode_record
from bizbus.schemas.values import Money
from tests.integration.flowstack import FlowStack
from tests.integration.test_api_economy import request_count, requests_since
from tests.integration.test_connector_salesforce_sandbox import FAST, crm_settings

N = int(os.environ.get("BIZBUS_TEST_PRICE_CHANGES", "1000"))  # issue 14's figure: 10000
WITHOUT_ENTRY = N // 10
REPEATED = N // 20
SLACK = 5  # the first batch's short linger, a batch split by a repeated key
RARE_POLLS = {name: "600" for name in ("BIZBUS_POLL_INTERVAL_S", "BIZBUS_CRM_POLL_IDLE_S",
                                        "BIZBUS_ERP_POLL_IDLE_S")}  # fmt: skip


@pytest.fixture(scope="module")
def stack(flow_stack_factory: Any) -> Iterator[FlowStack]:
    started: FlowStack = flow_stack_factory(
        flows="catalog", systems=("crm", "erp"), worker_env=RARE_POLLS
    )
    yield started


def command(code: str, price: Decimal) -> Any:
    payload = PriceBookEntryUpsertRequestedV1(
        price_book_name="Standard Price Book", model_code=code,
        unit_price=Money(amount=price, currency="CNY"),
        valid_from=datetime.now(UTC).date(), flag_open_quotes=True,
    )  # fmt: skip
    return make_event(payload, source="bizbus://tests/bulk", correlationid=code, origin="erp")


async def publish_at_once(stack: FlowStack, events: list[Envelope[Any]]) -> None:
    """Produce every command in a few record batches (a backlog, as after an ERP price run)."""
    writer = producer(stack.kafka, acks="all", linger_ms=20)
    await writer.start()
    try:
        sent = [
            await writer.send(stack.topic("cmd.crm.price-book-entry"), value, key=key,
                              headers=headers)
            for key, value, headers in (encode_record(event) for event in events)
        ]  # fmt: skip
        for ack in sent:
            await ack
    finally:
        await writer.stop()


async def quiet(stack: FlowStack, url: str) -> None:
    """Wait until the CRM has had no request for 3 checks (the worker's start-up sync is over)."""
    seen: list[int] = []

    async def still() -> bool:
        seen.append(await request_count(url))
        return len(seen) > 3 and len(set(seen[-4:])) == 1

    await stack.wait_for(still, what="the CRM to fall quiet", interval_s=0.5)


async def test_price_changes_cost_at_most_n_over_100_crm_calls(stack: FlowStack) -> None:
    url = stack.urls["crm"]
    tag = uuid.uuid4().hex[:5].upper()
    codes = [f"HL-BULK{tag}-{i:04d}" for i in range(N)]
    async with SalesforceConnector(crm_settings(url), retry=FAST) as crm:
        made = await crm.create_many(
            [
                (
                    "Product2",
                    {"Name": code, "ProductCode": code, "ErpProductRef__c": code, "IsActive": True},
                )
                for code in codes
            ]
        )
        assert all(result.success for result in made)
        book = await crm.standard_pricebook_id()
        entries = await crm.create_many([
            ("PricebookEntry", {"Pricebook2Id": book, "Product2Id": result.id,
                                "UnitPrice": 1.0, "IsActive": True})
            for result in made[WITHOUT_ENTRY:]
        ])  # fmt: skip
        assert all(result.success for result in entries)
        await quiet(stack, url)
        since = await request_count(url)
        final = {code: Decimal(1000 + i) for i, code in enumerate(codes)}
        earlier = [command(code, Decimal(7)) for code in codes[:REPEATED]]
        await publish_at_once(stack, [*earlier, *(command(c, p) for c, p in final.items())])
        await stack.wait_caught_up("cmd.crm.price-book-entry")
        calls = await requests_since(url, since)
        rows = await crm.query(format_soql(
            "SELECT UnitPrice, Product2.ProductCode FROM PricebookEntry "
            "WHERE Product2.ProductCode LIKE {p} AND Pricebook2.IsStandard = true",
            p=f"HL-BULK{tag}-%"))  # fmt: skip
    paths = Counter(f"{c['method']} {c['path'].split('/v60.0')[-1]}" for c in calls)
    assert len(calls) <= N // 100 + SLACK, paths
    written = Counter(row["Product2"]["ProductCode"] for row in rows)
    assert set(written.values()) == {1} and len(written) == N  # one entry per product
    prices = {row["Product2"]["ProductCode"]: Decimal(str(row["UnitPrice"])) for row in rows}
    assert prices == final
