"""ERP fulfilment progress → CRM order status, which only ever moves forward.

`src.erp.{sale-order,mrp-production,picking,invoice}` → a mapping stage per feed (lookups cached)
→ SalesOrder/ManufacturingOrder/Shipment/Invoice events on `biz.*` (key: ERP document, deal of
its CRM order) → a status stage per topic → `cmd.crm.order` (key: CRM order id; `order_updates`
keeps it forward-only, so a redelivery writes nothing). Dead letters: unknown products, bad data.
"""

import logging
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from bizbus.connectors.base import SourceRecord
from bizbus.flows.context import FlowDeps
from bizbus.flows.fulfilment.mapping import (
    FulfilmentEvent,
    map_invoice,
    map_production,
    map_sale_order,
    map_shipment,
    sale_order_name,
    status_for,
)
from bizbus.flows.fulfilment.reconcile import status_reconciler
from bizbus.flows.fulfilment.references import ErpReferences
from bizbus.flows.runtime import spec
from bizbus.flows.runtime.reconcile import Reconciler
from bizbus.flows.runtime.record import RawRecord
from bizbus.flows.runtime.spec import Declaration, Emit, Output, StageSpec
from bizbus.flows.runtime.tracing import trace_fields
from bizbus.flows.shared import ERP, captured, crm_order_deal, decode, erp_feed, follow_up
from bizbus.schemas import (
    Envelope,
    OrderUpdateRequestedV1,
    SalesOrderUpsertedV1,
    SourceRecordCapturedV1,
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


def deal_of(record: SourceRecord) -> str | None:
    """Return the deal's correlation id when an ERP record names its CRM order."""
    field = {"sale.order": "client_order_ref", "account.move": "ref"}.get(record.entity)
    crm_order = record.payload.get(field) if field else None
    if not isinstance(crm_order, str) or not crm_order:
        return None
    return crm_order_deal(crm_order)


def _last(topic: str) -> str:
    return topic.rsplit(".", 1)[-1]


def _emit(payload: FulfilmentEvent, cause: Envelope[SourceRecordCapturedV1]) -> list[Output]:
    """The canonical event of an ERP record, in its CRM order's deal when it has one."""
    crm_order = payload.crm_order_ref
    event = make_event(
        payload,
        source=SOURCE,
        correlationid=crm_order_deal(crm_order) if crm_order else cause.correlationid,
        causationid=cause.id,
        origin="erp",
        time=cause.data.modified_at,
        **trace_fields(cause),
    )
    return [Emit(event)]


class FulfilmentFlow:
    """ERP documents to canonical fulfilment events to CRM order statuses."""

    TABLES: ClassVar[tuple[spec.TableSpec, ...]] = ()

    def __init__(self, deps: FlowDeps, tables: spec.Tables | None = None) -> None:
        self.deps = deps
        self.refs = ErpReferences(deps.connections)

    def reconcilers(self) -> tuple[Reconciler, ...]:
        """Return the fulfilment flow's part of `bizbus reconcile orders`: statuses."""
        return (status_reconciler(self.deps.connections),)

    def declare(self) -> Declaration:
        """Return the four ERP feeds, their mapping stages and the four status stages."""
        mappers: dict[str, Callable[[RawRecord], Awaitable[list[Output]]]] = {
            "sale.order": self.on_sale_order,
            "mrp.production": self.on_production,
            "stock.picking": self.on_picking,
            "account.move": self.on_invoice,
        }
        maps = [
            StageSpec(f"fulfilment-map-{_last(topic)}", topic, mappers[model], ERP)
            for model, topic in FEEDS.items()
        ]
        statuses = [
            StageSpec(f"fulfilment-status-{_last(topic)}", topic, self.on_status)
            for topic in STATUS_TOPICS
        ]
        feeds = [
            spec.Feed(
                topic.removeprefix("src."),
                "erp",
                topic,
                erp_feed(self.deps.connections, model),
                correlate=deal_of,
                entity=model,
            )
            for model, topic in FEEDS.items()
        ]
        return Declaration(
            stages=(*maps, *statuses),
            feeds=tuple(feeds),
            emits=(*STATUS_TOPICS, "cmd.crm.order"),
        )

    async def on_sale_order(self, record: RawRecord) -> list[Output]:
        """A sale order with product lines → SalesOrderUpsertedV1."""
        event, raw = captured(record, self.deps.keys)
        order = raw.record
        lines = await self.refs.sale_lines(order.get("order_line"))
        payload = map_sale_order(order, lines, await self.refs.products(lines))
        if payload is None:
            return []  # no product line yet: nothing to tell
        if payload.crm_order_ref:
            self.refs.remember_crm_order(payload.name, payload.crm_order_ref)
        return _emit(payload, event)

    async def on_production(self, record: RawRecord) -> list[Output]:
        """A manufacturing order → planned or progressed (draft: nothing)."""
        event, raw = captured(record, self.deps.keys)
        production = raw.record
        crm_order = await self.refs.crm_order_of(sale_order_name(production))
        products = await self.refs.products([production])
        payload = map_production(production, products, crm_order_ref=crm_order)
        return [] if payload is None else _emit(payload, event)

    async def on_picking(self, record: RawRecord) -> list[Output]:
        """A done outgoing delivery that moved goods → ShipmentDispatchedV1."""
        event, raw = captured(record, self.deps.keys)
        picking = raw.record
        if picking.get("picking_type_code") != "outgoing" or picking.get("state") != "done":
            return []  # only a finished delivery is a shipment
        moves = await self.refs.moves(int(raw.record_id))
        crm_order = await self.refs.crm_order_of(sale_order_name(picking))
        products = await self.refs.products(moves)
        payload = map_shipment(picking, moves, products, crm_order_ref=crm_order)
        if payload is None:
            log.debug("done delivery %s moved no goods: nothing to report", picking.get("name"))
            return []
        return _emit(payload, event)

    async def on_invoice(self, record: RawRecord) -> list[Output]:
        """A posted customer invoice → InvoicePostedV1."""
        event, raw = captured(record, self.deps.keys)
        move = raw.record
        # The ERP copies the sale order's client_order_ref onto the invoice's `ref`.
        crm_order = move.get("ref") or await self.refs.crm_order_of(sale_order_name(move))
        payload = map_invoice(move, crm_order_ref=str(crm_order) if crm_order else None)
        return [] if payload is None else _emit(payload, event)

    async def on_status(self, record: RawRecord) -> list[Output]:
        """A fulfilment event → the CRM order status it stands for (none: nothing)."""
        event = decode(record, self.deps.keys)
        status = status_for(event.data)
        crm_order: Any = getattr(event.data, "crm_order_ref", None)
        if isinstance(event.data, SalesOrderUpsertedV1) and crm_order:
            # Here, not in the mapper: faust writes a table from a topic of as many partitions.
            self.deps.xref.record(f"order:{crm_order}", crm=crm_order, erp=event.data.name)
        if status is None or not crm_order:
            return []  # no status to move, or an ERP order that did not come from the CRM
        update = OrderUpdateRequestedV1(crm_order_id=crm_order, status=status)
        return [Emit(follow_up(update, event, source=SOURCE, origin="erp"))]
