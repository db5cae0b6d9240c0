"""ERP fulfilment: manufacturing orders, stock per warehouse, shipments, invoices.

Each carries the ERP sales order number and, when known, the CRM order id so the order-status
flow can find the CRM order without a lookup. Stock is keyed per warehouse and model (compacted).
"""

from datetime import date
from typing import ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from bizbus.schemas.payloads.catalog import ModelCode
from bizbus.schemas.payloads.common import Address
from bizbus.schemas.values import Money, NonEmptyStr, Payload, Quantity

__all__ = [
    "InvoicePostedV1",
    "ManufacturingOrderPlannedV1",
    "ManufacturingOrderProgressedV1",
    "ShipmentDispatchedV1",
    "ShipmentLine",
    "StockChangedV1",
]


class _OrderLinked(Payload):
    """Links back to the sales order an ERP document serves."""

    sales_order_ref: str | None = Field(
        default=None, description="ERP sales order number it serves.", examples=["S00042"]
    )
    crm_order_ref: str | None = Field(
        default=None, description="CRM order id of that sales order, if it came from the CRM."
    )


class ManufacturingOrderPlannedV1(_OrderLinked):
    """The ERP planned a manufacturing order (`mrp.production` confirmed)."""

    EVENT_TYPE: ClassVar[str] = "bizbus.production.manufacturing-order.planned.v1"

    erp_mo_id: int = Field(ge=1, description="ERP manufacturing order id.")
    name: NonEmptyStr = Field(description="MO number; canonical key.", examples=["WH/MO/00012"])
    model_code: ModelCode
    quantity: Quantity = Field(gt=0, description="Quantity to produce.")
    uom: NonEmptyStr = Field(description="Unit of measure.", examples=["台"])
    workcenter: str | None = Field(default=None, description="Main work centre, if planned.")
    planned_start: AwareDatetime = Field(description="Planned start of production.")
    planned_end: AwareDatetime = Field(description="Planned end of production.")

    def entity_key(self) -> str:
        """Return the MO number."""
        return self.name


class ManufacturingOrderProgressedV1(_OrderLinked):
    """A manufacturing order moved on: materials issued, quantities produced, done."""

    EVENT_TYPE: ClassVar[str] = "bizbus.production.manufacturing-order.progressed.v1"

    erp_mo_id: int = Field(ge=1, description="ERP manufacturing order id.")
    name: NonEmptyStr = Field(description="MO number; canonical key.", examples=["WH/MO/00012"])
    model_code: ModelCode
    state: Literal["confirmed", "progress", "to_close", "done", "cancel"] = Field(
        description="Odoo mrp.production state."
    )
    quantity_planned: Quantity = Field(description="Quantity to produce.")
    quantity_produced: Quantity = Field(description="Quantity produced so far.")
    progressed_at: AwareDatetime = Field(description="When the ERP recorded the progress.")

    def entity_key(self) -> str:
        """Return the MO number."""
        return self.name


class StockChangedV1(_OrderLinked):
    """The stock level of a product model in one warehouse changed."""

    EVENT_TYPE: ClassVar[str] = "bizbus.inventory.stock.changed.v1"

    warehouse_code: NonEmptyStr = Field(description="ERP warehouse code.", examples=["SZ01"])
    warehouse_name: str | None = Field(default=None, description="Warehouse name.")
    model_code: ModelCode
    quantity_on_hand: Quantity = Field(description="Quantity physically in the warehouse.")
    quantity_reserved: Quantity = Field(description="Quantity reserved for orders.")
    quantity_incoming: Quantity | None = Field(
        default=None, description="Quantity open production orders will add (None: not known)."
    )
    next_available_at: AwareDatetime | None = Field(
        default=None,
        description="Planned finish of the earliest open production order (UTC); None: none open.",
    )
    uom: NonEmptyStr = Field(description="Unit of measure.")
    reason: Literal["receipt", "production", "reservation", "delivery", "adjustment"] = Field(
        description="What moved the stock."
    )
    changed_at: AwareDatetime = Field(description="When the stock level changed (UTC).")

    def entity_key(self) -> str:
        """Return ``<warehouse>:<model>``, one compacted state per stock level."""
        return f"{self.warehouse_code}:{self.model_code}"


class ShipmentLine(BaseModel):
    """Quantity of one product model on a shipment."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_code: ModelCode
    quantity: Quantity = Field(gt=0, description="Quantity shipped.")
    serial_numbers: tuple[str, ...] = Field(default=(), description="Serial numbers shipped.")


class ShipmentDispatchedV1(_OrderLinked):
    """Goods left the warehouse (`stock.picking` outgoing, done)."""

    EVENT_TYPE: ClassVar[str] = "bizbus.logistics.shipment.dispatched.v1"

    erp_picking_id: int = Field(ge=1, description="ERP picking id.")
    name: NonEmptyStr = Field(description="Delivery number; canonical key.")
    carrier: str | None = Field(default=None, description="Carrier name.", examples=["顺丰速运"])
    tracking_number: str | None = Field(default=None, description="Carrier tracking number.")
    lines: tuple[ShipmentLine, ...] = Field(min_length=1, description="What was shipped.")
    ship_to: Address | None = Field(default=None, description="Delivery address.")
    partial: bool = Field(default=False, description="True when more shipments will follow.")
    dispatched_at: AwareDatetime = Field(description="When the goods left.")

    def entity_key(self) -> str:
        """Return the delivery number."""
        return self.name


class InvoicePostedV1(_OrderLinked):
    """A customer invoice was posted in the ERP (`account.move`, out_invoice)."""

    EVENT_TYPE: ClassVar[str] = "bizbus.finance.invoice.posted.v1"

    erp_invoice_id: int = Field(ge=1, description="ERP invoice id.")
    number: NonEmptyStr = Field(description="Invoice number; canonical key.")
    erp_customer_id: int = Field(ge=1, description="ERP partner id of the customer.")
    customer_name: NonEmptyStr = Field(description="Customer name on the invoice.")
    invoice_date: date = Field(description="Invoice date.")
    due_date: date | None = Field(default=None, description="Payment due date.")
    amount_untaxed: Money = Field(description="Total before tax.")
    amount_tax: Money = Field(description="VAT amount.")
    amount_total: Money = Field(description="Total including tax.")
    fapiao_number: str | None = Field(
        default=None, description="Official VAT invoice (发票) number, once issued."
    )
    posted_at: AwareDatetime = Field(description="When the invoice was posted.")

    def entity_key(self) -> str:
        """Return the invoice number."""
        return self.number
