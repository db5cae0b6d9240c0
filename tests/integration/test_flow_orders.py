"""customers + orders end to end: CRM accounts and activated orders reach the ERP, once each.

One stack (CRM + ERP sandboxes, a worker running `customers,orders`). People act through each
system's API (a salesperson in the CRM, the admin in the ERP); writes are counted in each
sandbox's effects log, events are read from the stack's topics.
"""

import asyncio
import uuid
from collections.abc import Iterator
from decimal import Decimal
from functools import partial
from typing import Any

import httpx
import pytest
from aiokafka import TopicPartition

from bizbus.connectors.salesforce import format_soql
from bizbus.deploy.demo.actors import CrmUser, ErpUser
from bizbus.deploy.sandbox.company import product
from bizbus.flows.runtime import deadletter as dl
from bizbus.flows.runtime.kafka_config import admin_client, consumer
from bizbus.flows.runtime.polling import correlation_id
from bizbus.flows.runtime.trace import find_xrefs
from bizbus.flows.xref import changelog_topic
from tests.integration.flowstack import FlowStack

# Salespeople of the shared master data (the CRM's users).
MODELS = ("HL-SM-7.5", "HL-BS-40")  # in the ERP's seed; created in the CRM when it lacks them

Record = tuple[bytes, dict[str, str], bytes]


@pytest.fixture(scope="module")
def stack(flow_stack_factory: Any) -> Iterator[FlowStack]:
    started: FlowStack = flow_stack_factory(flows="customers,orders", systems=("crm", "erp"))
    yield started


async def effects(url: str, obj: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        rows: list[dict[str, Any]] = (
            await http.get("/_sandbox/effects", params={"object": obj})
        ).json()["effects"]
    return rows


async def read_topic(stack: FlowStack, logical: str) -> list[Record]:
    """Every record of a stack topic so far: (key, headers, value)."""
    name = stack.topic(logical)
    admin = admin_client(stack.kafka)
    await admin.start()
    try:
        if name not in await admin.list_topics():
            return []
        [described] = await admin.describe_topics([name])
    finally:
        await admin.close()
    tps = [TopicPartition(name, p["partition"]) for p in described["partitions"]]
    reader = consumer(stack.kafka, enable_auto_commit=False)
    await reader.start()
    try:
        reader.assign(tps)
        await reader.seek_to_beginning(*tps)
        end = await reader.end_offsets(tps)
        found: list[Record] = []
        async with asyncio.timeout(20):
            while any([await reader.position(tp) < end[tp] for tp in tps]):
                for batch in (await reader.getmany(timeout_ms=200)).values():
                    found.extend(
                        (r.key or b"", {k: v.decode() for k, v in r.headers}, r.value or b"")
                        for r in batch
                    )
        return found
    finally:
        await reader.stop()


async def ensure_crm_product(crm: CrmUser, code: str, price: Decimal) -> None:
    """Give the CRM a product with a standard price for `code` unless it has one."""
    soql = format_soql("SELECT Id FROM PricebookEntry WHERE Product2.ProductCode = {c}", c=code)
    if await crm.query(soql):
        return
    standard = (await crm.query("SELECT Id FROM Pricebook2 WHERE IsStandard = true"))[0]["Id"]
    product_id = await crm.create("Product2", {"Name": code, "ProductCode": code, "IsActive": True})
    await crm.create(
        "PricebookEntry",
        {"Pricebook2Id": standard, "Product2Id": product_id, "UnitPrice": float(price),
         "IsActive": True},
    )  # fmt: skip


async def erp_order(erp: ErpUser, crm_order_id: str) -> dict[str, Any] | None:
    rows = await erp.search_read(
        "sale.order", [("client_order_ref", "=", crm_order_id)], ["name", "state", "order_line"]
    )
    return rows[0] if rows else None


async def known_customer(stack: FlowStack, crm: CrmUser, erp: ErpUser) -> str:
    """Return a CRM account whose customer the ERP has (synced by the customers flow)."""
    rows = await crm.query(
        "SELECT Id, AccountNumber, ErpCustomerRef__c FROM Account ORDER BY AccountNumber LIMIT 1"
    )
    ref = rows[0]["ErpCustomerRef__c"] or rows[0]["AccountNumber"]

    async def partner() -> list[dict[str, Any]]:
        return await erp.search_read("res.partner", [("ref", "=", ref)], ["id"])

    await stack.wait_for(partner, what=f"ERP customer {ref}")
    account_id: str = rows[0]["Id"]
    return account_id


async def wait_completed(stack: FlowStack, crm: CrmUser, erp: ErpUser, order_id: str) -> str:
    order = await stack.wait_for(
        lambda: erp_order(erp, order_id), what=f"ERP sale order of {order_id}"
    )
    name: str = order["name"]

    async def written_back() -> bool:
        return (await crm.get("Order", order_id)).get("ErpOrderRef__c") == name

    await stack.wait_for(written_back, what=f"ErpOrderRef__c {name} on CRM order {order_id}")
    return name


async def parked_orders(stack: FlowStack) -> dict[str, Any]:
    async with stack.web() as http:
        found: dict[str, Any] = (await http.get("/bizbus/parked-orders/")).json()
    return found


async def test_activated_order_becomes_a_confirmed_erp_order_with_one_correlation_id(
    stack: FlowStack, crm: CrmUser, erp: ErpUser
) -> None:
    for code in MODELS:
        await ensure_crm_product(crm, code, product(code).list_price)
    account_id = await known_customer(stack, crm, erp)
    order_id = await crm.place_order(
        account_id, [("HL-SM-7.5", 2, Decimal("6500")), ("HL-BS-40", 4, Decimal("2200.50"))]
    )

    name = await wait_completed(stack, crm, erp, order_id)

    order = await erp_order(erp, order_id)
    assert order is not None and order["state"] == "sale"
    lines = await erp.execute(
        "sale.order.line", "read", order["order_line"], fields=["product_id", "product_uom_qty",
                                                                 "price_unit"]
    )  # fmt: skip
    assert sorted((line["product_uom_qty"], line["price_unit"]) for line in lines) == [
        (2, 6500.0), (4, 2200.5)
    ]  # fmt: skip
    deal = correlation_id("crm-order", order_id)
    hops: dict[str, set[str]] = {}
    for topic in ("biz.sales.order", "cmd.erp.sales-order", "cmd.crm.order"):
        for key, headers, _ in await read_topic(stack, topic):
            if key == order_id.encode():
                hops.setdefault(headers["ce_type"], set()).add(headers["ce_correlationid"])
    assert set(hops) >= {
        "bizbus.sales.order.placed.v1",
        "bizbus.sales.sales-order.requested.v1",
        "bizbus.sales.order.update-requested.v1",
    }, hops
    assert set().union(*hops.values()) == {deal}
    assert name.startswith("S")


async def test_the_same_order_delivered_twice_has_one_effect(
    stack: FlowStack, crm: CrmUser, erp: ErpUser
) -> None:
    account_id = await known_customer(stack, crm, erp)
    order_id = await crm.place_order(account_id, [("HL-BS-40", 1, Decimal("2300"))])
    await wait_completed(stack, crm, erp, order_id)
    key = order_id.encode()
    raw = [
        r for r in await read_topic(stack, "src.crm.order") if r[0] == f"Order:{order_id}".encode()
    ]
    commands = [r for r in await read_topic(stack, "cmd.erp.sales-order") if r[0] == key]
    assert raw and len(commands) == 1

    for topic, records in (("src.crm.order", raw), ("cmd.erp.sales-order", commands)):
        await stack.send(
            topic,
            *((rkey, value, [(k, v.encode()) for k, v in headers.items()])
              for rkey, headers, value in records),
        )  # fmt: skip

    async def second_write_back_requested() -> bool:
        updates = [r for r in await read_topic(stack, "cmd.crm.order") if r[0] == key]
        return len(updates) >= 2

    await stack.wait_for(second_write_back_requested, what="the redelivered command handled")
    # Both redelivered records and whatever they caused are handled by now.
    await stack.wait_caught_up("src.crm.order", "biz.sales.order", "cmd.erp.sales-order")
    creates = [e for e in await effects(stack.urls["erp"], "sale.order")
               if e["key"] == order_id and e["action"] == "create"]  # fmt: skip
    write_backs = [e for e in await effects(stack.urls["crm"], "Order")
                   if e["record_id"] == order_id and e["client"] == "bizbus"]  # fmt: skip
    assert len(creates) == 1
    assert len(write_backs) == 1
    assert (
        len(await erp.search_read("sale.order", [("client_order_ref", "=", order_id)], ["id"])) == 1
    )


async def test_new_crm_account_becomes_an_erp_customer_and_gets_its_number_once(
    stack: FlowStack, crm: CrmUser, erp: ErpUser
) -> None:
    number = f"C9{uuid.uuid4().int % 10**6:06d}"
    numbered = await crm.create(
        "Account",
        {"Name": f"苏州新纪元精密部件有限公司 {number}", "AccountNumber": number,
         "BillingCity": "苏州", "BillingCountry": "中国", "Phone": "0512-6666 0001"},
    )  # fmt: skip
    unnumbered = await crm.create(
        "Account", {"Name": f"无锡远景机电有限公司 {number}", "BillingCity": "无锡"}
    )
    expected = {numbered: number, unnumbered: f"CRM-{unnumbered}"}

    for account_id, ref in expected.items():

        async def partner(ref: str = ref) -> list[dict[str, Any]]:
            return await erp.search_read("res.partner", [("ref", "=", ref)], ["id", "name"])

        async def written_back(account_id: str = account_id, ref: str = ref) -> bool:
            return (await crm.get("Account", account_id)).get("ErpCustomerRef__c") == ref

        [found] = await stack.wait_for(partner, what=f"ERP customer {ref}")
        await stack.wait_for(written_back, what=f"ErpCustomerRef__c {ref}")
        xrefs = await stack.wait_for(
            partial(
                find_xrefs, stack.kafka_bootstrap, ref, changelog=changelog_topic(stack.app_id)
            ),
            what=f"xref of {ref}",
        )
        assert xrefs[f"customer:{ref}"] == {"crm": account_id, "erp": str(found["id"])}

    # The write-back's echo is polled and handled by now; it must not loop.
    await stack.wait_for_polls("crm.account")
    await stack.wait_caught_up("src.crm.account", "biz.sales.account", "cmd.erp.customer")
    for account_id, ref in expected.items():
        creates = [e for e in await effects(stack.urls["erp"], "res.partner") if e["key"] == ref]
        back = [e for e in await effects(stack.urls["crm"], "Account")
                if e["record_id"] == account_id and e["client"] == "bizbus"]  # fmt: skip
        assert [e["action"] for e in creates] == ["create"], creates
        assert len(back) == 1, back


async def test_order_with_a_product_the_erp_lacks_is_parked_then_completed(
    stack: FlowStack, crm: CrmUser, erp: ErpUser
) -> None:
    code = f"HL-NEW-{uuid.uuid4().hex[:6].upper()}"
    await ensure_crm_product(crm, code, Decimal("9900"))
    account_id = await known_customer(stack, crm, erp)
    order_id = await crm.place_order(account_id, [(code, 3, Decimal("9500"))])

    async def parked() -> Any:
        return (await parked_orders(stack)).get(order_id)

    entry = await stack.wait_for(parked, what=f"order {order_id} parked")
    assert entry["missing"] == [f"product:{code}"]
    assert await erp_order(erp, order_id) is None
    dead = [r for r in await read_topic(stack, "cmd.erp.sales-order.dlq")
            if r[0] == order_id.encode()]  # fmt: skip
    assert dead == []

    await erp.execute(
        "product.product", "create",
        {"name": f"{code} 新型号", "default_code": code, "list_price": 9900.0, "type": "product"},
    )  # fmt: skip

    await wait_completed(stack, crm, erp, order_id)
    order = await erp_order(erp, order_id)
    assert order is not None and order["state"] == "sale"
    assert order_id not in await parked_orders(stack)
    creates = [e for e in await effects(stack.urls["erp"], "sale.order")
               if e["key"] == order_id and e["action"] == "create"]  # fmt: skip
    assert len(creates) == 1


async def test_poison_record_is_dead_lettered_with_its_reason_and_next_orders_flow(
    stack: FlowStack, crm: CrmUser, erp: ErpUser
) -> None:
    await stack.send("src.crm.order", (b"Order:poison", b'{"Id": "801 not an event', []))
    account_id = await known_customer(stack, crm, erp)
    erp_before = len(await effects(stack.urls["erp"], "sale.order"))
    order_id = await crm.place_order(account_id, [("HL-SM-7.5", 1, Decimal("6600"))])

    await wait_completed(stack, crm, erp, order_id)

    async def poison_dead_lettered() -> list[Record]:
        return [r for r in await read_topic(stack, "src.crm.order.dlq") if r[0] == b"Order:poison"]

    [(_, headers, value)] = await stack.wait_for(poison_dead_lettered, what="the dead letter")
    assert value == b'{"Id": "801 not an event'
    assert headers[dl.ERROR_CLASS] == "SchemaError"
    assert "undecodable record" in headers[dl.REASON]
    erp_writes = [e for e in (await effects(stack.urls["erp"], "sale.order"))[erp_before:]
                  if e["key"] == order_id and e["client"] == "bizbus"]  # fmt: skip
    creates = [e for e in erp_writes if e["action"] == "create"]
    write_backs = [e for e in await effects(stack.urls["crm"], "Order")
                   if e["record_id"] == order_id and e["client"] == "bizbus"]  # fmt: skip
    counts = (
        f"ERP sale.order writes by bizbus="
        f"{[(e['action'], sorted(e['detail'].get('vals') or {})) for e in erp_writes]} "
        f"CRM Order write-backs={len(write_backs)}"
    )
    print(f"poison test: {counts}")  # noqa: T201 - the issue asks for these counts
    assert len(creates) == 1
    assert len(write_backs) == 1
