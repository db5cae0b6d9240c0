"""Pure rules of the fulfilment flow: Odoo records → canonical events → CRM order status.

`map_*` turn one polled ERP record (as the Odoo feed reads it) plus the reference data the agent
looked up into a canonical payload, or None when the record is not (yet) a business event;
`status_for` says which CRM order status a canonical event stands for. No I/O here.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from bizbus.connectors.errors import MappingError
from bizbus.connectors.fields import text
from bizbus.connectors.odoo import parse_odoo_datetime
from bizbus.schemas import (
    InvoicePostedV1,
    ManufacturingOrderPlannedV1,
    ManufacturingOrderProgressedV1,
    Money,
    OrderStatus,
    Payload,
    SalesOrderLine,
    SalesOrderUpsertedV1,
    ShipmentDispatchedV1,
    ShipmentLine,
)

__all__ = [
    "ErpProduct",
    "FulfilmentEvent",
    "map_invoice",
    "map_production",
    "map_sale_order",
    "map_shipment",
    "production_status",
    "sale_order_name",
    "sale_status",
    "status_for",
]

FulfilmentEvent = (
    SalesOrderUpsertedV1
    | ManufacturingOrderPlannedV1
    | ManufacturingOrderProgressedV1
    | ShipmentDispatchedV1
    | InvoicePostedV1
)
Record = Mapping[str, Any]

# mrp.production state → the CRM order status it stands for. Several MOs of one order need no
# bookkeeping: every state after `confirmed` is `in_production`, and only the delivery (which
# the ERP does once all MOs are done) moves the order past it. A cancelled MO says nothing about
# the order (the sale order's own cancel does).
_PRODUCTION_STATUS: Mapping[str, OrderStatus | None] = {
    "confirmed": OrderStatus.ACCEPTED,
    "progress": OrderStatus.IN_PRODUCTION,
    "to_close": OrderStatus.IN_PRODUCTION,
    "done": OrderStatus.IN_PRODUCTION,
    "cancel": None,
}
_SALE_STATUS: Mapping[str, OrderStatus | None] = {
    "draft": None,
    "sent": None,
    "sale": OrderStatus.ACCEPTED,
    "done": OrderStatus.ACCEPTED,
    "cancel": OrderStatus.CANCELLED,
}


@dataclass(frozen=True, slots=True)
class ErpProduct:
    """What the events need of an ERP `product.product`."""

    id: int
    model_code: str
    uom: str


def production_status(state: str) -> OrderStatus | None:
    """Return the order status an `mrp.production` state stands for (None: no change)."""
    return _PRODUCTION_STATUS.get(state)


def sale_status(state: str) -> OrderStatus | None:
    """Return the order status a `sale.order` state stands for (None: not confirmed yet)."""
    return _SALE_STATUS.get(state)


def status_for(event: Payload) -> OrderStatus | None:
    """Return the CRM order status a canonical fulfilment event stands for, or None.

    Sale order confirmed → accepted, cancelled → cancelled; manufacturing planned → accepted,
    started/done → in_production; full shipment → shipped; invoice posted → invoiced. A
    partial shipment keeps the order where it is (more goods are still to leave).
    """
    match event:
        case SalesOrderUpsertedV1(state=state):
            return _SALE_STATUS.get(state)
        case ManufacturingOrderPlannedV1():
            return OrderStatus.ACCEPTED
        case ManufacturingOrderProgressedV1(state=state):
            return production_status(state)
        case ShipmentDispatchedV1(partial=partial):
            return None if partial else OrderStatus.SHIPPED
        case InvoicePostedV1():
            return OrderStatus.INVOICED
    return None


# -- Odoo value helpers ------------------------------------------------------------------------


def _set(value: Any) -> Any:
    """Odoo reads an unset value as False; return None instead."""
    return None if value is False else value


def _many2one(record: Record, field: str) -> tuple[int, str] | None:
    value = _set(record.get(field))
    if isinstance(value, list | tuple) and len(value) == 2:
        return int(value[0]), str(value[1])
    if isinstance(value, int):
        return value, ""
    return None


def _required_many2one(record: Record, field: str, what: str) -> tuple[int, str]:
    found = _many2one(record, field)
    if found is None:
        raise MappingError(f"odoo: {what} {record.get('id')} has no {field}")
    return found


def _when(value: Any) -> datetime | None:
    value = _set(value)
    return parse_odoo_datetime(str(value)) if value else None


def _required_when(record: Record, field: str, what: str) -> datetime:
    found = _when(record.get(field))
    if found is None:
        raise MappingError(f"odoo: {what} {record.get('id')} has no {field}")
    return found


def _decimal(value: Any) -> Decimal:
    return Decimal(str(_set(value) or 0))


def _currency(record: Record, what: str) -> str:
    return _required_many2one(record, "currency_id", what)[1]


def _product(products: Mapping[int, ErpProduct], record: Record, what: str) -> ErpProduct:
    product_id = _required_many2one(record, "product_id", what)[0]
    product = products.get(product_id)
    if product is None:
        raise MappingError(f"odoo: {what} {record.get('id')} names product {product_id} unknown")
    return product


def sale_order_name(record: Record) -> str | None:
    """Return the sale order number an MO, picking or invoice serves, if any."""
    sale = _many2one(record, "sale_id") or _many2one(record, "x_sale_order_id")
    if sale and sale[1]:
        return sale[1]
    return text(record.get("invoice_origin")) or text(record.get("origin"))


# -- mappings ----------------------------------------------------------------------------------


def map_sale_order(
    record: Record, lines: Sequence[Record], products: Mapping[int, ErpProduct]
) -> SalesOrderUpsertedV1 | None:
    """Map a `sale.order` and its lines; None while it has no product line yet."""
    currency = _currency(record, "sale.order")
    mapped = [
        SalesOrderLine(
            line_id=int(line["id"]),
            erp_product_id=product.id,
            model_code=product.model_code,
            description=text(line.get("name")) or product.model_code,
            quantity=_decimal(line.get("product_uom_qty")),
            unit_price=Money(amount=_decimal(line.get("price_unit")), currency=currency),
            discount_percent=_decimal(line.get("discount")),
            delivered_quantity=_decimal(line.get("qty_delivered")),
            invoiced_quantity=_decimal(line.get("qty_invoiced")),
        )
        for line in sorted(lines, key=lambda line: int(line["id"]))
        if _many2one(line, "product_id") is not None
        for product in (_product(products, line, "sale.order.line"),)
    ]
    if not mapped:
        return None
    customer_id, customer_name = _required_many2one(record, "partner_id", "sale.order")
    untaxed, total = _decimal(record.get("amount_untaxed")), _decimal(record.get("amount_total"))
    return SalesOrderUpsertedV1(
        erp_order_id=int(record["id"]),
        name=str(record["name"]),
        crm_order_ref=text(record.get("client_order_ref")),
        erp_customer_id=customer_id,
        customer_name=customer_name,
        state=record["state"],
        date_order=_required_when(record, "date_order", "sale.order"),
        commitment_date=_when(record.get("commitment_date")),
        currency=currency,
        lines=tuple(mapped),
        amount_untaxed=Money(amount=untaxed, currency=currency),
        amount_tax=Money(amount=total - untaxed, currency=currency),
        amount_total=Money(amount=total, currency=currency),
        modified_at=_required_when(record, "write_date", "sale.order"),
    )


def map_production(
    record: Record, products: Mapping[int, ErpProduct], *, crm_order_ref: str | None
) -> ManufacturingOrderPlannedV1 | ManufacturingOrderProgressedV1 | None:
    """Map an `mrp.production`: `confirmed` is planned, later states progressed, draft nothing."""
    state = record.get("state")
    if state not in _PRODUCTION_STATUS:
        return None
    product = _product(products, record, "mrp.production")
    common: dict[str, Any] = {
        "erp_mo_id": int(record["id"]),
        "name": str(record["name"]),
        "model_code": product.model_code,
        "sales_order_ref": sale_order_name(record),
        "crm_order_ref": crm_order_ref,
    }
    written = _required_when(record, "write_date", "mrp.production")
    if state == "confirmed":
        start = _when(record.get("date_start")) or written
        return ManufacturingOrderPlannedV1(
            **common,
            quantity=_decimal(record.get("product_qty")),
            uom=product.uom,
            planned_start=start,
            planned_end=_when(record.get("date_deadline")) or start,
        )
    return ManufacturingOrderProgressedV1(
        **common,
        state=state,
        quantity_planned=_decimal(record.get("product_qty")),
        quantity_produced=_decimal(record.get("qty_producing")),
        progressed_at=written,
    )


def map_shipment(
    record: Record,
    moves: Sequence[Record],
    products: Mapping[int, ErpProduct],
    *,
    crm_order_ref: str | None,
) -> ShipmentDispatchedV1 | None:
    """Map a done outgoing `stock.picking` with its moves; None for any other picking.

    A done delivery that moved no goods (every move cancelled or zero, or a picking without
    moves) is None too: nothing left, so there is nothing to tell the CRM, and it is no error.
    """
    if record.get("picking_type_code") != "outgoing" or record.get("state") != "done":
        return None
    lines: list[ShipmentLine] = []
    partial = False
    for move in sorted(moves, key=lambda move: int(move["id"])):
        ordered = _decimal(move.get("product_uom_qty"))
        shipped = _decimal(move.get("quantity"))
        partial = partial or shipped < ordered
        if shipped > 0:
            product = _product(products, move, "stock.move")
            lines.append(ShipmentLine(model_code=product.model_code, quantity=shipped))
    if not lines:
        return None
    return ShipmentDispatchedV1(
        erp_picking_id=int(record["id"]),
        name=str(record["name"]),
        sales_order_ref=sale_order_name(record),
        crm_order_ref=crm_order_ref,
        tracking_number=text(record.get("carrier_tracking_ref")),
        lines=tuple(lines),
        partial=partial,
        dispatched_at=_when(record.get("date_done"))
        or _required_when(record, "write_date", "stock.picking"),
    )


def map_invoice(record: Record, *, crm_order_ref: str | None) -> InvoicePostedV1 | None:
    """Map a posted customer invoice (`account.move` out_invoice); None for anything else."""
    if record.get("move_type") != "out_invoice" or record.get("state") != "posted":
        return None
    currency = _currency(record, "account.move")
    customer_id, customer_name = _required_many2one(record, "partner_id", "account.move")
    untaxed, total = _decimal(record.get("amount_untaxed")), _decimal(record.get("amount_total"))
    invoice_date = text(record.get("invoice_date"))
    due = text(record.get("invoice_date_due"))
    posted_at = _required_when(record, "write_date", "account.move")
    return InvoicePostedV1(
        erp_invoice_id=int(record["id"]),
        number=str(record["name"]),
        sales_order_ref=sale_order_name(record),
        crm_order_ref=crm_order_ref,
        erp_customer_id=customer_id,
        customer_name=customer_name,
        invoice_date=date.fromisoformat(invoice_date) if invoice_date else posted_at.date(),
        due_date=date.fromisoformat(due) if due else None,
        amount_untaxed=Money(amount=untaxed, currency=currency),
        amount_tax=Money(amount=total - untaxed, currency=currency),
        amount_total=Money(amount=total, currency=currency),
        posted_at=posted_at,
    )
