"""CRM orders activated → confirmed ERP sales orders; the ERP order number goes back on the order.

`src.crm.order` (polled Salesforce Orders with their items) → activated, not yet sent, not our
echo → enriched with account, owner and product codes → `biz.sales.order` (OrderPlacedV1, one
correlation id per deal: `correlation_id("crm-order", id)`) → `cmd.erp.sales-order`
(SalesOrderRequestedV1) → Odoo `sale.order` by `client_order_ref` = CRM order id, lines at the
agreed prices, confirmed → xref `order:<id>` → `cmd.crm.order` (ERP number, status accepted).
Key: the CRM order id everywhere (`Order:<id>` on the raw feed), so one order stays in order.
Idempotent: a placed order whose content was already sent is not sent again (table), and Odoo
upserts by `client_order_ref`. An unknown customer or product parks the command (`flows.parking`)
until the customer/product is announced or a sweep finds it; parked orders: `GET
/bizbus/parked-orders/` on the worker. Dead letters: undecodable records, orders without items
or product codes, confirmed ERP orders whose lines differ, writes a system refuses.
"""

import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from bizbus.connectors.base import Cursor, SinkCommand, SourceRecord
from bizbus.connectors.errors import MappingError, SchemaError
from bizbus.connectors.odoo import OdooConnector
from bizbus.connectors.salesforce import SalesforceConnector, format_soql, select
from bizbus.flows import parking
from bizbus.flows.context import FlowContext
from bizbus.flows.orders_mapping import (
    order_digest,
    order_update,
    placed_order,
    product_ids,
    sale_order_payload,
    sales_order_command,
    skip_reason,
)
from bizbus.flows.runtime.polling import correlation_id
from bizbus.flows.runtime.record import RawRecord
from bizbus.flows.runtime.spec import Feed
from bizbus.flows.shared import Owners, decode, follow_up, is_echo
from bizbus.schemas import (
    TOPICS,
    CustomerUpsertedV1,
    OrderPlacedV1,
    ProductModelChangedV1,
    SalesOrderRequestedV1,
    SourceRecordCapturedV1,
    make_event,
)

log = logging.getLogger("bizbus.flows.orders")
SOURCE = "bizbus://flows/orders"
COMMANDS = "cmd.erp.sales-order"
SWEEP_S = 1.0
IN_FLIGHT_S = 30.0
ACCOUNT_FIELDS = ["Id", "Name", "AccountNumber", "ErpCustomerRef__c"]


async def fetch_products(crm: SalesforceConnector, ids: list[str]) -> dict[str, dict[str, Any]]:
    """Return the Product2 rows (code and name) of `ids`, by id."""
    if not ids:
        return {}
    soql = select("Product2", ["Id", "ProductCode", "Name"],
                  where=format_soql("Id IN {ids}", ids=ids))  # fmt: skip
    return {str(row["Id"]): row for row in await crm.query(soql)}


async def missing_references(erp: OdooConnector, command: SalesOrderRequestedV1) -> list[str]:
    """Return what the ERP lacks for `command`: `customer:<ref>`, `product:<code>` labels."""
    missing = []
    if await erp.lookups.find("res.partner", "ref", command.customer_ref) is None:
        missing.append(f"customer:{command.customer_ref}")
    for code in sorted({line.model_code for line in command.lines}):
        if await erp.lookups.find("product.product", "default_code", code) is None:
            missing.append(f"product:{code}")
    return missing


def register(ctx: FlowContext) -> None:
    """Declare the order feed, the placing, sending and parking agents and the parked view."""
    owners = Owners()
    placed: Any = ctx.app.Table(
        "crm-orders-placed",
        default=None,
        partitions=TOPICS["src.crm.order"].partitions,
    )
    parked: Any = ctx.app.Table(
        "parked-sales-orders",
        default=None,
        partitions=TOPICS[COMMANDS].partitions,
    )
    in_flight: dict[str, tuple[int, float]] = {}

    async def read_orders(since: Cursor | None) -> AsyncIterator[SourceRecord]:
        crm = await ctx.connections.crm()
        async for record in crm.changes("Order", since):
            yield record

    ctx.poller.add(
        Feed(
            "crm.order",
            "crm",
            "src.crm.order",
            read_orders,
            correlate=lambda record: correlation_id("crm-order", record.id),
        )
    )

    async def place_order(record: RawRecord) -> None:
        event = decode(record)
        raw = event.data
        if not isinstance(raw, SourceRecordCapturedV1) or raw.object_name != "Order":
            raise SchemaError(f"src.crm.order carries {event.type}, not a CRM Order record")
        row = raw.record
        crm = await ctx.connections.crm()
        if skip_reason(row, deleted=raw.change_type == "delete") or is_echo(crm, row):
            return
        [details] = await crm.query(
            select("Order", ["Id", "Account.Name", "Account.AccountNumber",
                             "Account.ErpCustomerRef__c"],
                   where=format_soql("Id = {i}", i=raw.record_id))
        )  # fmt: skip
        account = {**(details.get("Account") or {}), "Id": row.get("AccountId")}
        order = placed_order(
            row,
            account=account,
            owner=await owners.of(crm, row),
            products=await fetch_products(crm, product_ids(row)),
        )
        digest = order_digest(order)
        if placed.get(order.crm_order_id) == digest:
            return  # the same order content was placed already (re-poll, redelivery)
        await ctx.publish(
            make_event(
                order,
                source=SOURCE,
                correlationid=correlation_id("crm-order", order.crm_order_id),
                causationid=event.id,
                origin="crm",
            )
        )
        placed[order.crm_order_id] = digest

    async def request_sales_order(record: RawRecord) -> None:
        event = decode(record)
        if not isinstance(event.data, OrderPlacedV1):
            return  # status changes share the topic; they are the fulfilment flow's
        await ctx.publish(
            follow_up(sales_order_command(event.data), event, source=SOURCE, origin="crm")
        )

    async def apply_sales_order(record: RawRecord) -> None:
        event = decode(record)
        command = event.data
        if not isinstance(command, SalesOrderRequestedV1):
            raise SchemaError(f"{COMMANDS} carries {event.type}, not a sales-order request")
        key = command.crm_order_id
        entry = parked.get(key)
        if parking.is_retry(record) and (entry is None or entry["event_id"] != event.id):
            return  # completed or superseded since this retry was sent
        erp = await ctx.connections.erp()
        missing = await missing_references(erp, command)
        result = None
        reason = "ERP lacks " + ", ".join(missing)
        if not missing:
            try:
                result = await erp.apply(
                    SinkCommand(
                        "sale.order",
                        key,
                        sale_order_payload(command),
                        idempotency_key=event.id,
                        correlation_id=event.correlationid,
                    )
                )
            except MappingError as error:  # reference data vanished between check and write
                missing, reason = ["unknown"], str(error)
        if result is None:
            parked[key] = parking.park(
                entry, record, event_id=event.id, missing=missing, reason=reason, now=time.time()
            )
            log.warning("CRM order %s parked (attempt %d): %s", key, parked[key]["attempts"],
                        reason)  # fmt: skip
            return
        name = result.external_ids["name"]
        ctx.xref.record(f"order:{key}", crm=key, erp=name)
        await ctx.publish(
            follow_up(order_update(command, name), event, source=SOURCE, origin="erp")
        )
        if entry is not None:
            del parked[key]
            log.info("parked CRM order %s completed as %s", key, name)
        log.info("CRM order %s is ERP sales order %s (%s)", key, name, result.outcome.value)

    async def resend(key: str, entry: dict[str, Any]) -> None:
        attempts = int(entry["attempts"])
        sent = in_flight.get(key)
        if sent and sent[0] == attempts and time.time() - sent[1] < IN_FLIGHT_S:
            return  # already re-sent, its outcome is not back yet
        in_flight[key] = (attempts, time.time())
        value, headers = parking.retry_record(entry)
        await ctx.app.producer.send_and_wait(
            ctx.topic_name(COMMANDS), key.encode(), value, partition=None, timestamp=None,
            headers=headers,
        )  # fmt: skip

    async def wake(label: str) -> None:
        for key, entry in list(parked.items()):
            if entry and parking.waits_for(entry, label):
                log.info("retrying parked CRM order %s: %s arrived", key, label)
                await resend(key, entry)

    async def wake_on_customer(record: RawRecord) -> None:
        event = decode(record)
        if isinstance(event.data, CustomerUpsertedV1):
            await wake(f"customer:{event.data.ref}")

    async def wake_on_product(record: RawRecord) -> None:
        event = decode(record)
        if isinstance(event.data, ProductModelChangedV1):
            await wake(f"product:{event.data.model_code}")

    async def sweep_parked() -> None:
        now = time.time()
        for key, entry in list(parked.items()):
            if entry and parking.is_due(entry, now):
                await resend(key, entry)
        for key in [k for k in in_flight if parked.get(k) is None]:
            del in_flight[key]

    async def parked_view(web: Any, request: Any) -> Any:
        return web.json({key: parking.summary(entry) for key, entry in parked.items() if entry})

    ctx.agent("src.crm.order", place_order, name="crm-orders")
    ctx.agent("biz.sales.order", request_sales_order, name="sales-order-requests")
    ctx.agent(COMMANDS, apply_sales_order, name="erp-sales-orders")
    ctx.agent("biz.sales.customer", wake_on_customer, name="parked-orders-customers")
    ctx.agent("biz.catalog.product-model", wake_on_product, name="parked-orders-products")
    ctx.app.timer(SWEEP_S)(sweep_parked)
    ctx.app.page("/bizbus/parked-orders/")(parked_view)
