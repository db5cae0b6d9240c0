"""ERP fulfilment progress → CRM order status, which only ever moves forward.

Sources: Odoo feeds of `sale.order`, `mrp.production`, `stock.picking`, `account.move` → raw
`src.erp.{sale-order,mrp-production,picking,invoice}` (key `<model>:<id>`). Steps: one mapping
agent per feed looks up what a record lacks (lines, moves, product codes, the CRM order id of the
sale order it serves; cached) and publishes SalesOrderUpserted / ManufacturingOrderPlanned|
Progressed / ShipmentDispatched / InvoicePosted on `biz.*` (key = ERP document number,
correlation `crm-order:<id>`); one status agent per `biz.*` topic turns each into
OrderUpdateRequestedV1(status) on `cmd.crm.order` (key = CRM order id), whose shared sink
(`flows.order_updates`) keeps `ErpStatus__c` forward-only: stale, repeated or out-of-order
events change nothing, so at-least-once redelivery costs no CRM write. Records written by our
integration user are NOT skipped: this flow never writes to these ERP models, so such a record is
the orders flow's create/confirm of a sale order (and the MOs the ERP plans in that call), whose
state is real. A done delivery that moved no goods is no shipment: nothing is published. Dead
letters: unknown product or one without `default_code` (MappingError), undecodable records
(SchemaError), ERP refusals (RejectedError).
"""

import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable
from typing import Any

from bizbus.connectors.base import Cursor, SourceRecord
from bizbus.connectors.errors import MappingError, SchemaError
from bizbus.flows.context import FlowContext
from bizbus.flows.fulfilment_mapping import (
    ErpProduct,
    FulfilmentEvent,
    map_invoice,
    map_production,
    map_sale_order,
    map_shipment,
    sale_order_name,
    status_for,
)
from bizbus.flows.runtime.polling import correlation_id
from bizbus.flows.runtime.record import RawRecord
from bizbus.flows.runtime.spec import Feed, ReadChanges
from bizbus.flows.shared import follow_up
from bizbus.schemas import (
    Envelope,
    OrderUpdateRequestedV1,
    SalesOrderUpsertedV1,
    SourceRecordCapturedV1,
    decode_record,
    make_event,
)

log = logging.getLogger("bizbus.flows.fulfilment")
SOURCE = "bizbus://flows/fulfilment"
# ERP model → its raw feed topic. Feeds are named `erp.<entity>` like the other flows' feeds, so
# another flow feeding the same topic replaces this feed (one cursor) instead of polling it twice.
FEEDS = {
    "sale.order": "src.erp.sale-order",
    "mrp.production": "src.erp.mrp-production",
    "stock.picking": "src.erp.picking",
    "account.move": "src.erp.invoice",
}
STATUS_TOPICS = (
    "biz.sales.sales-order",
    "biz.production.manufacturing-order",
    "biz.logistics.shipment",
    "biz.finance.invoice",
)
_LINE_FIELDS = ("product_id", "name", "product_uom_qty", "price_unit", "discount",
                "qty_delivered", "qty_invoiced")  # fmt: skip
_MOVE_FIELDS = ("product_id", "product_uom_qty", "quantity")


class _Lru(OrderedDict[Any, Any]):
    """A bounded least-recently-used map (entries never go stale for what is cached here)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def put(self, key: Any, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)


class ErpReferences:
    """What ERP records point to, read from the ERP on demand and cached per worker.

    Only found values are cached: a sale order may get its CRM reference later, while products
    and the link of a sale order to a CRM order do not change once set.
    """

    def __init__(self, ctx: FlowContext, *, size: int = 4096) -> None:
        self.ctx = ctx
        self._products = _Lru(size)
        self._crm_orders = _Lru(size)

    def remember_crm_order(self, sale_order: str, crm_order_id: str) -> None:
        """Cache the CRM order of a sale order seen on the feed."""
        self._crm_orders.put(sale_order, crm_order_id)

    async def crm_order_of(self, sale_order: str | None) -> str | None:
        """Return the CRM order id (`client_order_ref`) of a sale order, if it has one."""
        if not sale_order:
            return None
        if sale_order in self._crm_orders:
            found: str = self._crm_orders[sale_order]
            return found
        erp = await self.ctx.connections.erp()
        rows = await erp.search_read(
            "sale.order", [("name", "=", sale_order)], fields=["client_order_ref"], limit=1
        )
        ref = rows[0].get("client_order_ref") if rows else None
        if not ref:
            return None
        self.remember_crm_order(sale_order, str(ref))
        return str(ref)

    async def products(self, records: Iterable[dict[str, Any]]) -> dict[int, ErpProduct]:
        """Return the products the records' `product_id` name, by id.

        Raises:
            MappingError: A product is missing or has no `default_code` (its model code).
        """
        wanted = {
            int(value[0])
            for record in records
            if isinstance(value := record.get("product_id"), list) and value
        }
        missing = sorted(wanted - set(self._products))
        if missing:
            erp = await self.ctx.connections.erp()
            for row in await erp.read(
                "product.product", missing, fields=["default_code", "uom_name"]
            ):
                if not row.get("default_code"):
                    raise MappingError(f"odoo: product {row['id']} has no default_code")
                product = ErpProduct(
                    int(row["id"]), str(row["default_code"]), str(row.get("uom_name") or "件")
                )
                self._products.put(product.id, product)
        return {pid: self._products[pid] for pid in wanted if pid in self._products}

    async def sale_lines(self, line_ids: Any) -> list[dict[str, Any]]:
        """Return the order lines with the fields the sales-order event needs."""
        if not isinstance(line_ids, list) or not line_ids:
            return []
        erp = await self.ctx.connections.erp()
        return await erp.read("sale.order.line", [int(i) for i in line_ids], fields=_LINE_FIELDS)

    async def moves(self, picking_id: int) -> list[dict[str, Any]]:
        """Return the stock moves of a picking."""
        erp = await self.ctx.connections.erp()
        return await erp.search_read(
            "stock.move", [("picking_id", "=", picking_id)], fields=list(_MOVE_FIELDS)
        )


def erp_reader(ctx: FlowContext, model: str) -> ReadChanges:
    """Return a feed reader: one catch-up pass over `model`'s changes after the cursor."""

    async def read(since: Cursor | None) -> AsyncIterator[SourceRecord]:
        erp = await ctx.connections.erp()
        async for record in erp.changes(model, since, follow=False):
            yield record

    return read


def captured(record: RawRecord) -> Envelope[SourceRecordCapturedV1]:
    """Decode a raw feed record.

    Raises:
        SchemaError: The record is not a captured source record.
    """
    event = decode_record(record.value, record.headers)
    if not isinstance(event.data, SourceRecordCapturedV1):
        raise SchemaError(f"{record.topic} carries {event.type}, not a captured source record")
    return event


def deal_of(record: SourceRecord) -> str | None:
    """Return the deal's correlation id when an ERP record names its CRM order."""
    field = {"sale.order": "client_order_ref", "account.move": "ref"}.get(record.entity)
    crm_order = record.payload.get(field) if field else None
    if not isinstance(crm_order, str) or not crm_order:
        return None
    return correlation_id("crm-order", crm_order)


def register(ctx: FlowContext) -> None:
    """Declare the ERP feeds, the mapping agents and the status agents."""
    refs = ErpReferences(ctx)

    async def publish(payload: FulfilmentEvent, cause: Envelope[SourceRecordCapturedV1]) -> None:
        crm_order = payload.crm_order_ref
        await ctx.publish(
            make_event(
                payload,
                source=SOURCE,
                correlationid=(
                    correlation_id("crm-order", crm_order) if crm_order else cause.correlationid
                ),
                causationid=cause.id,
                origin="erp",
                time=cause.data.modified_at,
            )
        )

    async def map_sale_orders(record: RawRecord) -> None:
        event = captured(record)
        order = event.data.record
        lines = await refs.sale_lines(order.get("order_line"))
        payload = map_sale_order(order, lines, await refs.products(lines))
        if payload is None:
            return  # no product line yet: nothing to tell
        if payload.crm_order_ref:
            refs.remember_crm_order(payload.name, payload.crm_order_ref)
        await publish(payload, event)

    async def map_productions(record: RawRecord) -> None:
        event = captured(record)
        production = event.data.record
        crm_order = await refs.crm_order_of(sale_order_name(production))
        payload = map_production(
            production, await refs.products([production]), crm_order_ref=crm_order
        )
        if payload is not None:
            await publish(payload, event)

    async def map_shipments(record: RawRecord) -> None:
        event = captured(record)
        picking = event.data.record
        if picking.get("picking_type_code") != "outgoing" or picking.get("state") != "done":
            return  # only a finished delivery is a shipment
        moves = await refs.moves(int(event.data.record_id))
        crm_order = await refs.crm_order_of(sale_order_name(picking))
        payload = map_shipment(picking, moves, await refs.products(moves), crm_order_ref=crm_order)
        if payload is None:
            log.debug("done delivery %s moved no goods: nothing to report", picking.get("name"))
            return
        await publish(payload, event)

    async def map_invoices(record: RawRecord) -> None:
        event = captured(record)
        move = event.data.record
        # The ERP copies the sale order's client_order_ref onto the invoice's `ref`.
        crm_order = move.get("ref") or await refs.crm_order_of(sale_order_name(move))
        payload = map_invoice(move, crm_order_ref=str(crm_order) if crm_order else None)
        if payload is not None:
            await publish(payload, event)

    async def request_status(record: RawRecord) -> None:
        event = decode_record(record.value, record.headers)
        status = status_for(event.data)
        crm_order = getattr(event.data, "crm_order_ref", None)
        if isinstance(event.data, SalesOrderUpsertedV1) and crm_order:
            # Here, not in the mapper: faust writes a table from a topic of as many partitions.
            ctx.xref.record(f"order:{crm_order}", crm=crm_order, erp=event.data.name)
        if status is None or not crm_order:
            return  # no status to move, or an ERP order that did not come from the CRM
        await ctx.publish(
            follow_up(
                OrderUpdateRequestedV1(crm_order_id=crm_order, status=status),
                event,
                source=SOURCE,
                origin="erp",
            )
        )

    mappers = {
        "sale.order": map_sale_orders,
        "mrp.production": map_productions,
        "stock.picking": map_shipments,
        "account.move": map_invoices,
    }
    for model, topic in FEEDS.items():
        reader = erp_reader(ctx, model)
        feed = Feed(topic.removeprefix("src."), "erp", topic, reader, correlate=deal_of)
        ctx.poller.add(feed)
        ctx.agent(topic, mappers[model], name=f"fulfilment-map-{topic.rsplit('.', 1)[-1]}")
    for topic in STATUS_TOPICS:
        ctx.agent(topic, request_status, name=f"fulfilment-status-{topic.rsplit('.', 1)[-1]}")
