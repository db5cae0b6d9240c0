"""catalog end to end: ERP model and price → CRM, CRM marketing text → ERP, without loops.

One stack (CRM + ERP sandboxes, a worker running `catalog`). The ERP admin and a CRM salesperson
act through each system's API; every write is counted in the sandboxes' effects logs (client
`bizbus` = ours), so echoes, conflicts and storms are measured as exact write counts.
"""

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from bizbus.connectors.salesforce import format_soql
from bizbus.deploy.demo.actors import CrmUser, ErpUser
from bizbus.deploy.sandbox.company import product
from bizbus.schemas import TOPICS, FieldConflictDetectedV1, decode_record
from tests.integration.flowstack import FlowStack

CODE = "HL-CK6150"
OLD_PRICE = product(CODE).list_price
NEW_PRICE = Decimal("132000")
QUIET_S = 4.0  # 8 poll intervals: an echo or a loop would show up within it


@pytest.fixture(scope="module")
def stack(flow_stack_factory: Any) -> Iterator[FlowStack]:
    started: FlowStack = flow_stack_factory(flows="catalog", systems=("crm", "erp"))
    yield started


async def effects(url: str, since: int = 0) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        answer = await http.get("/_sandbox/effects", params={"since": since})
        rows: list[dict[str, Any]] = answer.json()["effects"]
    return rows


async def marks(stack: FlowStack) -> dict[str, int]:
    """The last effect sequence number of each system."""
    return {name: max([e["seq"] for e in await effects(stack.urls[name])], default=0)
            for name in ("crm", "erp")}  # fmt: skip


async def our_writes(stack: FlowStack, since: dict[str, int]) -> dict[str, Counter[str]]:
    """Count our (client bizbus) writes per system and object since `since`."""
    return {
        name: Counter(
            e["object"] for e in await effects(stack.urls[name], since[name])
            if e["client"] == "bizbus"
        )
        for name in ("crm", "erp")
    }  # fmt: skip


async def settle(stack: FlowStack, *, quiet_s: float = 3.0, timeout_s: float = 60) -> None:
    """Wait until neither system has been written for `quiet_s`."""
    deadline = time.monotonic() + timeout_s
    last, since = await marks(stack), time.monotonic()
    while time.monotonic() - since < quiet_s:
        assert time.monotonic() < deadline, f"writes never stopped:\n{stack.log_tail()}"
        await asyncio.sleep(0.5)
        now = await marks(stack)
        if now != last:
            last, since = now, time.monotonic()


async def standard_entry(crm: CrmUser) -> dict[str, Any]:
    return await crm.price_entry(CODE)


async def crm_product(crm: CrmUser) -> dict[str, Any]:
    rows = await crm.query(format_soql(
        "SELECT Id, Name, Description, ModelRevision__c, ErpProductRef__c FROM Product2 "
        "WHERE ProductCode = {c}", c=CODE))  # fmt: skip
    assert len(rows) == 1, rows
    return rows[0]


async def erp_product(erp: ErpUser) -> dict[str, Any]:
    rows = await erp.search_read(
        "product.template", [("default_code", "=", CODE)],
        ["id", "list_price", "x_model_revision", "description_sale"],
    )  # fmt: skip
    return rows[0]


async def conflicts(stack: FlowStack) -> list[FieldConflictDetectedV1]:
    """Every conflict recorded on the conflict topic so far."""
    consumer = AIOKafkaConsumer(bootstrap_servers=stack.kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        logical = "biz.catalog.field-conflict"
        name = stack.topic(logical)
        tps = [TopicPartition(name, p) for p in range(TOPICS[logical].partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        found: list[Any] = []
        async with asyncio.timeout(20):
            while any([await consumer.position(tp) < end[tp] for tp in tps]):
                for batch in (await consumer.getmany(timeout_ms=200)).values():
                    found.extend(
                        decode_record(r.value, list(r.headers), keys=stack.keys).data for r in batch
                    )
        return found
    finally:
        await consumer.stop()


async def test_initial_sync_gives_the_crm_the_erp_model_and_list_price(
    stack: FlowStack, crm: CrmUser
) -> None:
    async def synced() -> bool:
        try:
            entry = await standard_entry(crm)
        except LookupError:
            return False
        return Decimal(str(entry["UnitPrice"])) == OLD_PRICE and (
            (await crm_product(crm))["ModelRevision__c"] == product(CODE).revision
        )

    await stack.wait_for(synced, what=f"{CODE} with its ERP price in the CRM", timeout_s=60)
    await settle(stack)
    assert (await crm_product(crm))["ErpProductRef__c"] == CODE


async def test_erp_price_change_reaches_crm_flags_open_order_and_does_not_loop(
    stack: FlowStack, crm: CrmUser, erp: ErpUser
) -> None:
    account = (await crm.query("SELECT Id FROM Account ORDER BY Name LIMIT 1"))[0]["Id"]
    draft = await crm.place_order(account, [(CODE, 2, OLD_PRICE)], activate=False)
    await settle(stack)
    before = await marks(stack)
    template = (await erp_product(erp))["id"]
    await erp.execute("product.template", "write", [template],
                      {"list_price": float(NEW_PRICE), "x_model_revision": "C"})  # fmt: skip

    async def followed() -> bool:
        entry = await standard_entry(crm)
        order = await crm.get("Order", draft)
        return (
            Decimal(str(entry["UnitPrice"])) == NEW_PRICE
            and (await crm_product(crm))["ModelRevision__c"] == "C"
            and bool(order.get("PriceReviewNeeded__c"))
        )

    await stack.wait_for(followed, what="new price, revision C and the flag in the CRM")
    await asyncio.sleep(QUIET_S)
    writes = await our_writes(stack, before)
    assert writes["crm"] == Counter(
        {"Product2": 1, "PricebookEntry": 1, "OrderItem": 1, "Order": 1}
    ), writes
    assert writes["erp"] == Counter(), writes
    lines = await crm.query(format_soql(
        "SELECT PriceReviewNeeded__c FROM OrderItem WHERE OrderId = {o}", o=draft))  # fmt: skip
    assert [line["PriceReviewNeeded__c"] for line in lines] == [True]


async def test_crm_description_edit_reaches_erp_once_and_nothing_comes_back(
    stack: FlowStack, crm: CrmUser, erp: ErpUser
) -> None:
    before = await marks(stack)
    text = "CK6150 数控车床: 展会特惠, 含两天安装调试"
    await crm.update("Product2", (await crm_product(crm))["Id"], {"Description": text})

    async def followed() -> bool:
        return bool((await erp_product(erp))["description_sale"] == text)

    await stack.wait_for(followed, what="the CRM description on the ERP product")
    await asyncio.sleep(QUIET_S)
    writes = await our_writes(stack, before)
    assert writes["erp"] == Counter({"product.template": 1}), writes
    assert writes["crm"] == Counter(), writes


async def test_crm_price_edit_is_a_conflict_and_the_erp_price_is_restored_once(
    stack: FlowStack, crm: CrmUser, erp: ErpUser
) -> None:
    before = await marks(stack)
    entry = await standard_entry(crm)
    await crm.update("PricebookEntry", entry["Id"], {"UnitPrice": 99999.0})

    async def restored() -> bool:
        return Decimal(str((await standard_entry(crm))["UnitPrice"])) == NEW_PRICE

    await stack.wait_for(restored, what="the ERP list price restored in the CRM")
    await asyncio.sleep(QUIET_S)
    writes = await our_writes(stack, before)
    assert writes["crm"] == Counter({"PricebookEntry": 1}), writes
    assert writes["erp"] == Counter(), writes
    assert Decimal(str((await erp_product(erp))["list_price"])) == NEW_PRICE
    recorded = await conflicts(stack)
    assert [(c.field, c.edited_in, c.edited_value, c.owner_value, c.resolution)
            for c in recorded] == [
        ("list_price", "crm", "99999.00", "132000.00", "restore-owner-value")
    ]  # fmt: skip


async def test_an_edit_storm_in_the_crm_terminates(
    stack: FlowStack, crm: CrmUser, erp: ErpUser
) -> None:
    before = await marks(stack)
    product_id = (await crm_product(crm))["Id"]
    entry_id = (await standard_entry(crm))["Id"]
    texts = [f"风暴测试 {i % 2}" for i in range(10)]
    for i, text in enumerate(texts):  # 10 quick alternating edits of text and price
        await crm.update("Product2", product_id, {"Description": text})
        await crm.update("PricebookEntry", entry_id, {"UnitPrice": 100000.0 + i % 2})
        await asyncio.sleep(0.1)

    async def calm() -> bool:
        return (await erp_product(erp))["description_sale"] == texts[-1] and Decimal(
            str((await standard_entry(crm))["UnitPrice"])
        ) == NEW_PRICE

    await stack.wait_for(calm, what="the last text in the ERP and the ERP price in the CRM")
    await settle(stack, quiet_s=QUIET_S)
    writes = await our_writes(stack, before)
    print(f"edit storm: bizbus writes {dict(writes['crm'])} (CRM), {dict(writes['erp'])} (ERP)")  # noqa: T201
    assert set(writes["erp"]) == {"product.template"}
    assert 1 <= writes["erp"]["product.template"] <= len(texts)
    assert set(writes["crm"]) == {"PricebookEntry"}
    assert 1 <= writes["crm"]["PricebookEntry"] <= len(texts)
    quiet = await marks(stack)
    await asyncio.sleep(QUIET_S)
    assert await our_writes(stack, quiet) == {"crm": Counter(), "erp": Counter()}
