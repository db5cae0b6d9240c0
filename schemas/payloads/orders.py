"""Orders: the CRM order (Salesforce Order) and its status, the ERP sales order (`sale.order`).

Keys: CRM order id for CRM events, ERP order number (`S00042`) for ERP events. `OrderStatus`
is ordered so flows can refuse to move a CRM order backward on out-of-order ERP events.
"""

from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import ClassVar, Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from bizbus.schemas.payloads.catalog import ModelCode
from bizbus.schemas.payloads.common import Address, SalesRep
from bizbus.schemas.values import (
    CurrencyCode,
    Money,
    NonEmptyStr,
    Payload,
    Quantity,
    UnsignedDecimalText,
)

__all__ = [
    "OrderCancelledV1",
    "OrderChangedV1",
    "OrderLine",
    "OrderPlacedV1",
    "OrderStatus",
    "OrderStatusChangedV1",
    "SalesOrderLine",
    "SalesOrderUpsertedV1",
]


class OrderStatus(StrEnum):
    """Fulfilment status of a CRM order, in the order it moves forward (cancelled aside)."""

    PLACED = "placed"
    ACCEPTED = "accepted"
    IN_PRODUCTION = "in_production"
    SHIPPED = "shipped"
    INVOICED = "invoiced"
    COMPLETED = "completed"
    CANCELLED = "cancelled"

    @property
    def rank(self) -> int:
        """Position in the forward order; `cancelled` ranks above everything (terminal)."""
        return _ORDER_STATUS_RANK[self]

    def advances(self, current: "OrderStatus | None") -> bool:
        """Return True when moving from `current` to this status is a step forward."""
        return current is None or self.rank > current.rank


_ORDER_STATUS_RANK = {status: rank for rank, status in enumerate(OrderStatus)}


def _same_currency(currency: str, *amounts: Money | None) -> None:
    for money in amounts:
        if money is not None and money.currency != currency:
            raise ValueError(f"amount in {money.currency} on an order in {currency}")


class OrderLine(BaseModel):
    """One line of a CRM order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    line_no: int = Field(ge=1, description="Line number within the order, from 1.")
    model_code: ModelCode
    product_name: NonEmptyStr = Field(description="Product name on the order line.")
    quantity: Quantity = Field(gt=0, description="Ordered quantity.")
    unit_price: Money = Field(description="Agreed unit price, after negotiation.")
    discount_percent: UnsignedDecimalText = Field(
        default=Decimal(0), ge=0, le=100, description="Line discount in percent."
    )


class OrderPlacedV1(Payload):
    """A CRM order was placed (activated); the ERP gets a sales order for it."""

    EVENT_TYPE: ClassVar[str] = "bizbus.sales.order.placed.v1"

    crm_order_id: NonEmptyStr = Field(description="CRM order id (Order.Id); canonical key.")
    order_number: NonEmptyStr = Field(description="CRM order number.", examples=["00000123"])
    account_id: NonEmptyStr = Field(description="CRM account id of the customer.")
    account_number: str | None = Field(
        default=None, description="Customer number shared with the ERP."
    )
    customer_name: NonEmptyStr = Field(description="Customer name on the order.")
    owner: SalesRep = Field(description="Sales rep who owns the order.")
    customer_po: str | None = Field(default=None, description="Customer's purchase order no.")
    order_date: date = Field(description="Order date (local).")
    requested_delivery_date: date | None = Field(
        default=None, description="Delivery date the customer asked for."
    )
    currency: CurrencyCode = Field(description="Currency of every amount on the order.")
    lines: tuple[OrderLine, ...] = Field(min_length=1, description="Order lines.")
    total_amount: Money = Field(description="Order total after discounts, before tax.")
    shipping_address: Address | None = Field(default=None, description="Ship-to address.")
    placed_at: AwareDatetime = Field(description="When the order was activated in the CRM.")

    def entity_key(self) -> str:
        """Return the CRM order id."""
        return self.crm_order_id

    @model_validator(mode="after")
    def _one_currency(self) -> Self:
        _same_currency(self.currency, self.total_amount, *(line.unit_price for line in self.lines))
        return self


class OrderStatusChangedV1(Payload):
    """The fulfilment status of a CRM order moved (set by bizbus from ERP events)."""

    EVENT_TYPE: ClassVar[str] = "bizbus.sales.order.status-changed.v1"

    crm_order_id: NonEmptyStr = Field(description="CRM order id; canonical key.")
    status: OrderStatus = Field(description="New status.")
    previous_status: OrderStatus | None = Field(default=None, description="Status before.")
    erp_order_ref: str | None = Field(
        default=None, description="ERP sales order number, once known.", examples=["S00042"]
    )
    reason_event_type: str | None = Field(
        default=None, description="Type of the ERP event that moved the status, if any."
    )
    changed_at: AwareDatetime = Field(description="When the status changed.")

    def entity_key(self) -> str:
        """Return the CRM order id."""
        return self.crm_order_id


class OrderCancelledV1(Payload):
    """The ERP answered a CRM cancellation: the sales order is cancelled, or it is refused."""

    EVENT_TYPE: ClassVar[str] = "bizbus.sales.order.cancelled.v1"

    crm_order_id: NonEmptyStr = Field(description="CRM order id; canonical key.")
    erp_order_ref: str | None = Field(
        default=None, description="ERP sales order number, if the ERP has one.", examples=["S00042"]
    )
    outcome: Literal["cancelled", "already_cancelled", "refused"] = Field(
        description=(
            "`cancelled` by this request, `already_cancelled` before it (or the ERP never got "
            "the order), or `refused`."
        )
    )
    reason: str | None = Field(
        default=None, description="Why the ERP refused (in production, delivered, locked)."
    )
    decided_at: AwareDatetime = Field(description="When bizbus decided.")

    def entity_key(self) -> str:
        """Return the CRM order id."""
        return self.crm_order_id


class OrderChangedV1(Payload):
    """The ERP answered a change of a sent CRM order: applied, nothing to do, or refused."""

    EVENT_TYPE: ClassVar[str] = "bizbus.sales.order.changed.v1"

    crm_order_id: NonEmptyStr = Field(description="CRM order id; canonical key.")
    erp_order_ref: str | None = Field(
        default=None, description="ERP sales order number, if the ERP has one.", examples=["S00042"]
    )
    outcome: Literal["changed", "unchanged", "refused"] = Field(
        description=(
            "`changed` by this request, `unchanged` (the ERP order has that content already), "
            "or `refused`."
        )
    )
    reason: str | None = Field(
        default=None,
        description="Why the ERP refused (in production, delivered, locked, cancelled, missing).",
    )
    decided_at: AwareDatetime = Field(description="When bizbus decided.")

    def entity_key(self) -> str:
        """Return the CRM order id."""
        return self.crm_order_id


class SalesOrderLine(BaseModel):
    """One line of an ERP sales order (`sale.order.line`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    line_id: int = Field(ge=1, description="ERP order line id.")
    erp_product_id: int = Field(ge=1, description="ERP product id.")
    model_code: ModelCode
    description: NonEmptyStr = Field(description="Line description.")
    quantity: Quantity = Field(description="Ordered quantity.")
    unit_price: Money = Field(description="Unit price.")
    discount_percent: UnsignedDecimalText = Field(
        default=Decimal(0), ge=0, le=100, description="Line discount in percent."
    )
    delivered_quantity: Quantity = Field(default=Decimal(0), description="Quantity delivered.")
    invoiced_quantity: Quantity = Field(default=Decimal(0), description="Quantity invoiced.")


class SalesOrderUpsertedV1(Payload):
    """An ERP sales order was created or changed (including state changes)."""

    EVENT_TYPE: ClassVar[str] = "bizbus.sales.sales-order.upserted.v1"

    erp_order_id: int = Field(ge=1, description="ERP sales order id.")
    name: NonEmptyStr = Field(description="ERP order number; canonical key.", examples=["S00042"])
    crm_order_ref: str | None = Field(
        default=None, description="CRM order id (ERP `client_order_ref`), if from the CRM."
    )
    erp_customer_id: int = Field(ge=1, description="ERP partner id of the customer.")
    customer_name: NonEmptyStr = Field(description="Customer name.")
    state: Literal["draft", "sent", "sale", "done", "cancel"] = Field(
        description="Odoo sale.order state (`sale` = confirmed)."
    )
    date_order: AwareDatetime = Field(description="Order date (UTC).")
    commitment_date: AwareDatetime | None = Field(
        default=None, description="Promised delivery date, if set."
    )
    currency: CurrencyCode = Field(description="Currency of every amount on the order.")
    lines: tuple[SalesOrderLine, ...] = Field(min_length=1, description="Order lines.")
    amount_untaxed: Money = Field(description="Total before tax.")
    amount_tax: Money = Field(description="Tax (VAT) amount.")
    amount_total: Money = Field(description="Total including tax.")
    modified_at: AwareDatetime = Field(description="ERP write_date of this version (UTC).")

    def entity_key(self) -> str:
        """Return the ERP order number."""
        return self.name

    @model_validator(mode="after")
    def _one_currency(self) -> Self:
        amounts = (self.amount_untaxed, self.amount_tax, self.amount_total)
        _same_currency(self.currency, *amounts, *(line.unit_price for line in self.lines))
        return self
