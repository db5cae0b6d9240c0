"""fulfilment end to end: ERP progress → CRM order status, forward only, one write per status.

One stack (CRM + ERP sandboxes, a worker running only `fulfilment`). The CRM order is placed by
a salesperson; the ERP sale order is created and confirmed by the ERP admin with
`client_order_ref` = the CRM order id, then the ERP's own engine produces, ships and invoices on
its 1 s clock. Statuses are read from the CRM's effects log (every write, in order).
"""

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from bizbus.deploy.demo.actors import CrmUser, ErpUser
from bizbus.flows.fulfilment.flow import FEEDS, STATUS_TOPICS
from bizbus.flows.runtime.polling import correlation_id
from bizbus.schemas import (
    InvoicePostedV1,
    ManufacturingOrderProgressedV1,
    Money,
    OrderUpdateRequestedV1,
    SalesOrderLine,
    SalesOrderUpsertedV1,
    ShipmentDispatchedV1,
    ShipmentLine,
    decode_record,
    make_event,
)
from bizbus.schemas.values import Payload
from tests.integration.flowstack import FlowStack

log = logging.getLogger("tests.fulfilment")
# Salespeople of the shared master data (the CRM's users).


@pytest.fixture(scope="module")
def stack(flow_stack_factory: Any) -> Iterator[FlowStack]:
    started: FlowStack = flow_stack_factory(flows="fulfilment", systems=("crm", "erp"))
    yield started


class Commands:
    """Every `cmd.crm.order` command of the stack, read in the background."""

    def __init__(self, stack: FlowStack) -> None:
        self.consumer = AIOKafkaConsumer(
            stack.topic("cmd.crm.order"),
            bootstrap_servers=stack.kafka_bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        self.seen: list[OrderUpdateRequestedV1] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> "Commands":
        await self.consumer.start()
        self._task = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self.consumer.stop()

    async def _read(self) -> None:
        async for message in self.consumer:
            event = decode_record(message.value, list(message.headers))
            assert isinstance(event.data, OrderUpdateRequestedV1)
            self.seen.append(event.data)

    def statuses(self, order_id: str) -> list[str]:
        return [c.status.value for c in self.seen if c.crm_order_id == order_id and c.status]


async def place_crm_order(crm: CrmUser) -> str:
    account = (await crm.query("SELECT Id FROM Account LIMIT 1"))[0]["Id"]
    product = await crm.query("SELECT ProductCode FROM Product2 WHERE IsActive = true LIMIT 1")
    return await crm.place_order(account, [(product[0]["ProductCode"], 1, Decimal("1000"))])


async def confirm_erp_order(
    erp: ErpUser, crm_order_id: str, codes: tuple[str, ...] = ("HL-VMC850", "HL-CK6150")
) -> str:
    """Create and confirm an ERP sale order of one of each product (two made models by default)."""
    partner = await erp.search_read("res.partner", [("ref", "=", "C10001")], ["id"])
    products = await erp.search_read(
        "product.product", [("default_code", "in", list(codes))], ["id"]
    )
    assert partner and len(products) == len(codes), f"ERP master data lacks C10001 / {codes}"
    order_id = await erp.execute(
        "sale.order",
        "create",
        {
            "partner_id": partner[0]["id"],
            "client_order_ref": crm_order_id,
            "order_line": [(0, 0, {"product_id": p["id"], "product_uom_qty": 1}) for p in products],
        },
    )
    await erp.execute("sale.order", "action_confirm", [order_id])
    name: str = (await erp.search_read("sale.order", [("id", "=", order_id)], ["name"]))[0]["name"]
    return name


async def status_writes(stack: FlowStack, order_id: str) -> list[str]:
    """The ErpStatus__c values written on a CRM order, in write order."""
    async with httpx.AsyncClient(base_url=stack.urls["crm"], timeout=10) as http:
        rows = (await http.get("/_sandbox/effects", params={"object": "Order"})).json()["effects"]
    return [
        row["detail"]["fields"]["ErpStatus__c"]
        for row in rows
        if row["record_id"] == order_id and "ErpStatus__c" in row["detail"]["fields"]
    ]


async def send(stack: FlowStack, topic: str, *payloads: Payload, order_id: str) -> None:
    correlationid = correlation_id("crm-order", order_id)
    events = [
        make_event(p, source="bizbus://tests/fulfilment", correlationid=correlationid, origin="erp")
        for p in payloads
    ]
    await stack.publish(topic, *events)


async def all_commands_applied(stack: FlowStack, crm: CrmUser, order_id: str) -> None:
    """Send a no-status write-back behind the order's commands; once it lands, all have run."""
    marker = f"SENTINEL-{uuid.uuid4().hex[:6]}"
    await send(
        stack, "cmd.crm.order",
        OrderUpdateRequestedV1(crm_order_id=order_id, erp_order_ref=marker), order_id=order_id,
    )  # fmt: skip

    async def landed() -> bool:
        return (await crm.get("Order", order_id)).get("ErpOrderRef__c") == marker

    await stack.wait_for(landed, what="the sentinel write-back", timeout_s=30)


async def test_the_crm_order_follows_the_erp_to_invoiced_one_write_per_step(
    stack: FlowStack, crm: CrmUser, erp: ErpUser
) -> None:
    order_id = await place_crm_order(crm)
    await confirm_erp_order(erp, order_id)

    async def invoiced() -> bool:
        return (await crm.get("Order", order_id)).get("ErpStatus__c") == "Invoiced"

    await stack.wait_for(invoiced, what="the CRM order to be Invoiced", timeout_s=60)
    # Late duplicates (feed overlap, repeated sale-order versions) are read and handled by now.
    await stack.wait_for_polls(*(topic.removeprefix("src.") for topic in FEEDS.values()))
    await stack.wait_caught_up(*FEEDS.values(), *STATUS_TOPICS, "cmd.crm.order")
    written = await status_writes(stack, order_id)
    log.info("ErpStatus__c writes in order: %s", written)
    assert written == ["Confirmed", "InProduction", "Shipped", "Invoiced"]


async def test_statuses_delivered_out_of_order_never_move_the_order_backwards(
    stack: FlowStack, crm: CrmUser
) -> None:
    order_id = await place_crm_order(crm)
    cny = "CNY"
    now = datetime.now(UTC)
    linked = {"sales_order_ref": "S09001", "crm_order_ref": order_id}
    invoice = InvoicePostedV1(
        erp_invoice_id=9001, number="INV/2099/09001", erp_customer_id=8, customer_name="测试客户",
        invoice_date=now.date(), amount_untaxed=Money(amount=Decimal(100), currency=cny),
        amount_tax=Money(amount=Decimal(0), currency=cny),
        amount_total=Money(amount=Decimal(100), currency=cny), posted_at=now, **linked,
    )  # fmt: skip
    shipment = ShipmentDispatchedV1(
        erp_picking_id=9001, name="WH/OUT/09001",
        lines=(ShipmentLine(model_code="HL-VMC850", quantity=Decimal(1)),),
        dispatched_at=now, **linked,
    )  # fmt: skip
    production = ManufacturingOrderProgressedV1(
        erp_mo_id=9001, name="WH/MO/09001", model_code="HL-VMC850", state="progress",
        quantity_planned=Decimal(1), quantity_produced=Decimal(0), progressed_at=now, **linked,
    )  # fmt: skip
    sale = SalesOrderUpsertedV1(
        erp_order_id=9001, name="S09001", crm_order_ref=order_id, erp_customer_id=8,
        customer_name="测试客户", state="sale", date_order=now, currency=cny,
        lines=(SalesOrderLine(line_id=1, erp_product_id=1, model_code="HL-VMC850",
                              description="立式加工中心", quantity=Decimal(1),
                              unit_price=Money(amount=Decimal(100), currency=cny)),),
        amount_untaxed=Money(amount=Decimal(100), currency=cny),
        amount_tax=Money(amount=Decimal(0), currency=cny),
        amount_total=Money(amount=Decimal(100), currency=cny), modified_at=now,
    )  # fmt: skip
    steps = [
        ("biz.finance.invoice", invoice, "invoiced"),
        ("biz.logistics.shipment", shipment, "shipped"),
        ("biz.production.manufacturing-order", production, "in_production"),
        ("biz.sales.sales-order", sale, "accepted"),
    ]
    async with Commands(stack) as commands:
        for count, (topic, payload, status) in enumerate(steps, start=1):
            await send(stack, topic, payload, order_id=order_id)

            async def requested(count: int = count) -> bool:
                return len(commands.statuses(order_id)) >= count

            # Wait for each command so the sink surely sees them in this (backward) order.
            await stack.wait_for(requested, what=f"the {status} command", timeout_s=30)
        assert commands.statuses(order_id) == [status for _, _, status in steps]
    await all_commands_applied(stack, crm, order_id)
    written = await status_writes(stack, order_id)
    log.info("commands %s → ErpStatus__c writes %s", [s for _, _, s in steps], written)
    assert (await crm.get("Order", order_id))["ErpStatus__c"] == "Invoiced"
    assert written == ["Invoiced"]


async def test_the_same_erp_change_delivered_twice_is_written_once(
    stack: FlowStack, crm: CrmUser, erp: ErpUser
) -> None:
    order_id = await place_crm_order(crm)
    await confirm_erp_order(erp, order_id)

    async def invoiced() -> bool:
        return (await crm.get("Order", order_id)).get("ErpStatus__c") == "Invoiced"

    await stack.wait_for(invoiced, what="the CRM order to be Invoiced", timeout_s=60)
    raw = await raw_records(stack, "src.erp.invoice", ref=order_id)
    assert len(raw) >= 1, "the invoice feed never captured the order's invoice"
    async with Commands(stack) as commands:

        async def caught_up() -> bool:
            return commands.statuses(order_id).count("invoiced") >= 1

        await stack.wait_for(caught_up, what="the first invoiced command", timeout_s=30)
        before = commands.statuses(order_id).count("invoiced")
        # The very same captured ERP change, delivered twice more.
        await stack.send("src.erp.invoice", raw[-1], raw[-1])

        async def redelivered() -> bool:
            return commands.statuses(order_id).count("invoiced") >= before + 2

        await stack.wait_for(redelivered, what="two more invoiced commands", timeout_s=30)
        log.info("status commands of the order: %s", commands.statuses(order_id))
    await all_commands_applied(stack, crm, order_id)
    written = await status_writes(stack, order_id)
    log.info("ErpStatus__c writes after the redelivery: %s", written)
    assert written == ["Confirmed", "InProduction", "Shipped", "Invoiced"]


class ErpClock:
    """The stack ERP's sandbox clock, frozen while in use and real-time again afterwards."""

    def __init__(self, stack: FlowStack) -> None:
        self.http = httpx.AsyncClient(base_url=stack.urls["erp"], timeout=10)

    async def __aenter__(self) -> "ErpClock":
        await self.advance(0, manual=True)
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.advance(0, manual=False)
        await self.http.aclose()

    async def advance(self, seconds: float, **body: Any) -> datetime:
        answer = await self.http.post("/_sandbox/clock", json={"advance_s": seconds, **body})
        answer.raise_for_status()
        return datetime.fromisoformat(answer.json()["time"])

    async def to_fraction(self, fraction: float) -> datetime:
        """Step forward to the next `fraction` of a second (e.g. x.2 s)."""
        now = await self.advance(0)
        return await self.advance((fraction - now.microsecond / 1e6) % 1.0 or 1.0)


class Captured:
    """Raw ERP records of one topic as the worker published them, read in the background."""

    def __init__(self, stack: FlowStack, topic: str) -> None:
        self.consumer = AIOKafkaConsumer(
            stack.topic(topic),
            bootstrap_servers=stack.kafka_bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        self.records: list[dict[str, Any]] = []
        self.keys = stack.keys
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> "Captured":
        await self.consumer.start()
        self._task = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self.consumer.stop()

    async def _read(self) -> None:
        async for message in self.consumer:
            event = decode_record(message.value, list(message.headers), keys=self.keys)
            self.records.append(dict(getattr(event.data, "record", {})))

    def versions(self, record_id: int) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("id") == record_id]


async def test_a_delivery_done_within_the_second_it_was_last_read_still_ships_the_order(
    stack: FlowStack, crm: CrmUser, erp: ErpUser
) -> None:
    """A picking read, then written twice within one `write_date` second: the last one counts.

    The ERP clock is frozen and stepped: the clerk enters the tracking number at x.05 s, the
    worker reads the picking, and the ERP validates it at x.35 s of the same second.
    """
    order_id = await place_crm_order(crm)
    async with ErpClock(stack) as clock, Captured(stack, "src.erp.picking") as captured:
        await clock.to_fraction(0.2)
        # Stocked goods, nothing to make: the delivery is ready at once and ships one step
        # (1 s in this stack) later, at the next second's x.2.
        name = await confirm_erp_order(erp, order_id, ("HL-BS-40",))
        [picking] = await erp.search_read("stock.picking", [("origin", "=", name)], ["id"])
        await clock.advance(0.85)
        tracking = f"SF{uuid.uuid4().hex[:10].upper()}"
        await erp.execute("stock.picking", "write", [picking["id"]],
                          {"carrier_tracking_ref": tracking})  # fmt: skip
        [tracked] = await erp.search_read(
            "stock.picking", [("id", "=", picking["id"])], ["write_date", "state"]
        )
        assert tracked["state"] == "assigned"

        async def read_by_the_worker() -> bool:
            return any(
                r.get("carrier_tracking_ref") == tracking for r in captured.versions(picking["id"])
            )

        await stack.wait_for(read_by_the_worker, what="the worker to read the tracked picking")
        await clock.advance(0.3)  # the ship step is due now, still within the same second
        [done] = await erp.search_read(
            "stock.picking", [("id", "=", picking["id"])], ["write_date", "state"]
        )
        assert (done["state"], done["write_date"]) == ("done", tracked["write_date"])

        async def shipped() -> bool:
            return "Shipped" in await status_writes(stack, order_id)

        await stack.wait_for(shipped, what="the CRM order to show Shipped", timeout_s=30)
        states = [r["state"] for r in captured.versions(picking["id"])]
    log.info("picking versions captured: %s", states)
    assert states[-1] == "done"
    assert states.count("done") == 1  # the unchanged done picking is not captured again


async def test_a_service_only_order_is_invoiced_without_a_delivery(
    stack: FlowStack, crm: CrmUser, erp: ErpUser
) -> None:
    order_id = await place_crm_order(crm)
    name = await confirm_erp_order(erp, order_id, ("HL-SVC-INST",))
    assert await erp.search_read("stock.picking", [("origin", "=", name)], ["id"]) == []

    async def invoiced() -> bool:
        return (await crm.get("Order", order_id)).get("ErpStatus__c") == "Invoiced"

    await stack.wait_for(invoiced, what="the CRM order to be Invoiced", timeout_s=60)
    await all_commands_applied(stack, crm, order_id)
    assert await status_writes(stack, order_id) == ["Confirmed", "Invoiced"]


async def raw_records(
    stack: FlowStack, topic: str, *, ref: str
) -> list[tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]]:
    """Every raw record on `topic` whose ERP record has `ref` (the CRM order id)."""
    consumer = AIOKafkaConsumer(
        stack.topic(topic),
        bootstrap_servers=stack.kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: list[Any] = []
    try:
        for _ in range(20):  # at most ~20 s; ends at the first empty fetch once something matched
            batches = await consumer.getmany(timeout_ms=1000)
            if not batches and found:
                break
            for messages in batches.values():
                for message in messages:
                    event = decode_record(message.value, list(message.headers), keys=stack.keys)
                    record = getattr(event.data, "record", {})
                    if record.get("ref") == ref:
                        found.append((message.key, message.value, list(message.headers)))
    finally:
        await consumer.stop()
    return found
