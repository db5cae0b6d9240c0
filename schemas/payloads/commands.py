"""Commands to sinks (`cmd.<system>.<entity>` topics): what bizbus asks a system to write.

Types end in ``requested`` so they read as facts ("a write was requested"); each carries the
idempotency reference the sink upserts by, which is also its key.
"""

from datetime import date
from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field

from bizbus.schemas.payloads.catalog import ModelCode
from bizbus.schemas.payloads.common import Address, Employee, SalesRep
from bizbus.schemas.payloads.orders import OrderLine, OrderStatus
from bizbus.schemas.values import PERSONAL, CurrencyCode, Email, Money, NonEmptyStr, Payload

__all__ = [
    "BusinessTripRequestedV1",
    "CustomerUpsertRequestedV1",
    "OrderCancellationRequestedV1",
    "OrderChangeRequestedV1",
    "OrderUpdateRequestedV1",
    "PriceBookEntryUpsertRequestedV1",
    "ProductModelUpdateRequestedV1",
    "ProductUpsertRequestedV1",
    "SalesOrderRequestedV1",
]


class BusinessTripRequestedV1(Payload):
    """Create or cancel the ERP/HR business-trip record of an OA travel approval."""

    EVENT_TYPE: ClassVar[str] = "bizbus.hr.business-trip.requested.v1"

    action: Literal["create", "cancel"] = Field(description="What the ERP should do.")
    oa_instance_code: NonEmptyStr = Field(
        description="OA approval instance code; idempotency reference and key."
    )
    employee: Employee = Field(description="Employee on the trip.")
    destination: NonEmptyStr = Field(description="Destination city.")
    start_date: date = Field(description="First day of the trip.")
    end_date: date = Field(description="Last day of the trip, inclusive.")
    purpose: NonEmptyStr = Field(description="Purpose of the trip.")

    def entity_key(self) -> str:
        """Return the OA approval instance code."""
        return self.oa_instance_code


class CustomerUpsertRequestedV1(Payload):
    """Create or update the ERP customer of a CRM account (before any order needs it)."""

    EVENT_TYPE: ClassVar[str] = "bizbus.sales.customer.upsert-requested.v1"

    crm_account_id: NonEmptyStr = Field(description="CRM account id; key.")
    ref: NonEmptyStr = Field(description="Customer number; the ERP upserts by it.")
    name: NonEmptyStr = Field(description="Legal name of the customer.")
    vat: str | None = Field(default=None, description="Tax id (税号).")
    address: Address | None = Field(default=None, description="Main address.")
    phone: str | None = Field(
        default=None, description="Main phone number.", json_schema_extra=PERSONAL
    )
    email: Email | None = Field(
        default=None, description="Main e-mail.", json_schema_extra=PERSONAL
    )

    def entity_key(self) -> str:
        """Return the CRM account id."""
        return self.crm_account_id


class SalesOrderRequestedV1(Payload):
    """Create (or update) the ERP sales order of a CRM order."""

    EVENT_TYPE: ClassVar[str] = "bizbus.sales.sales-order.requested.v1"

    crm_order_id: NonEmptyStr = Field(
        description="CRM order id; becomes ERP `client_order_ref`, the idempotency reference."
    )
    crm_order_number: NonEmptyStr = Field(description="CRM order number, for people.")
    customer_ref: NonEmptyStr = Field(description="Customer number the ERP customer has.")
    erp_customer_id: int | None = Field(
        default=None, ge=1, description="ERP partner id, when the flow already knows it."
    )
    order_date: date = Field(description="Order date.")
    commitment_date: date | None = Field(default=None, description="Promised delivery date.")
    currency: CurrencyCode = Field(description="Currency of every amount on the order.")
    lines: tuple[OrderLine, ...] = Field(min_length=1, description="Lines with agreed prices.")
    note: str | None = Field(default=None, description="Note printed on the order.")
    owner: SalesRep | None = Field(
        default=None,
        description="Salesperson who owns the order (their role sets the discount "
        "they may give without an OA approval).",
    )

    def entity_key(self) -> str:
        """Return the CRM order id."""
        return self.crm_order_id


class OrderUpdateRequestedV1(Payload):
    """Write the ERP order number and/or a new status back on a CRM order."""

    EVENT_TYPE: ClassVar[str] = "bizbus.sales.order.update-requested.v1"

    crm_order_id: NonEmptyStr = Field(description="CRM order id; key.")
    erp_order_ref: str | None = Field(default=None, description="ERP order number to store.")
    status: OrderStatus | None = Field(default=None, description="Status to set, if any.")
    reassert: bool = Field(
        default=False,
        description=(
            "Write the status even when it was applied before (reconciliation: the CRM lost "
            "it); a status older than the last one applied is still ignored."
        ),
    )
    integration_note: str | None = Field(
        default=None,
        max_length=255,
        description=(
            "What the integration could not do and why (a refused cancellation or change), "
            "shown on the CRM order; an empty string clears it."
        ),
    )
    order_status: Literal["Rejected"] | None = Field(
        default=None,
        description="The CRM order's own `Status` to set: `Rejected` when its discount "
        "approval was turned down in the OA.",
    )

    def entity_key(self) -> str:
        """Return the CRM order id."""
        return self.crm_order_id


class OrderCancellationRequestedV1(Payload):
    """Cancel the ERP sales order of a CRM order cancelled after it was sent.

    The ERP cancels only while nothing is in production or delivered; otherwise it refuses.
    """

    EVENT_TYPE: ClassVar[str] = "bizbus.sales.order.cancellation-requested.v1"

    crm_order_id: NonEmptyStr = Field(
        description="CRM order id; the ERP order's `client_order_ref` and the key."
    )
    erp_order_ref: str | None = Field(
        default=None, description="ERP sales order number the CRM order shows.", examples=["S00042"]
    )
    requested_at: AwareDatetime = Field(description="When the CRM order was cancelled.")

    def entity_key(self) -> str:
        """Return the CRM order id."""
        return self.crm_order_id


class OrderChangeRequestedV1(Payload):
    """Bring a change of a sent CRM order (lines, delivery date) onto its ERP sales order.

    The ERP applies it only while nothing is in production or delivered; otherwise it refuses.
    """

    EVENT_TYPE: ClassVar[str] = "bizbus.sales.order.change-requested.v1"

    crm_order_id: NonEmptyStr = Field(
        description="CRM order id; the ERP order's `client_order_ref` and the key."
    )
    erp_order_ref: str | None = Field(
        default=None, description="ERP sales order number the CRM order shows.", examples=["S00042"]
    )
    commitment_date: date | None = Field(
        default=None, description="Requested delivery date, if the CRM order has one."
    )
    lines: tuple[OrderLine, ...] = Field(
        min_length=1, description="Every line the order should have now, with agreed prices."
    )
    requested_at: AwareDatetime = Field(description="When the CRM order was changed.")

    def entity_key(self) -> str:
        """Return the CRM order id."""
        return self.crm_order_id


class ProductUpsertRequestedV1(Payload):
    """Bring ERP-owned product fields (name, revision, specs) onto the CRM product."""

    EVENT_TYPE: ClassVar[str] = "bizbus.catalog.product.upsert-requested.v1"

    model_code: ModelCode
    name: NonEmptyStr = Field(description="Product name.")
    revision: NonEmptyStr = Field(description="Engineering revision.")
    uom: NonEmptyStr = Field(description="Unit of measure.")
    specifications: dict[str, str] = Field(
        default_factory=dict, description="Technical specifications, name → value."
    )
    active: bool = Field(default=True, description="False once discontinued.")

    def entity_key(self) -> str:
        """Return the product model code."""
        return self.model_code


class PriceBookEntryUpsertRequestedV1(Payload):
    """Set the CRM price-book entry of a model from an ERP list price."""

    EVENT_TYPE: ClassVar[str] = "bizbus.pricing.price-book-entry.upsert-requested.v1"

    price_book_name: NonEmptyStr = Field(description="CRM price book to write into.")
    model_code: ModelCode
    unit_price: Money = Field(description="Unit price to set.")
    valid_from: date = Field(description="First day the price applies.")
    flag_open_quotes: bool = Field(
        default=True, description="Flag open CRM quotes/orders still on the old price."
    )

    def entity_key(self) -> str:
        """Return ``<price book>:<model>``."""
        return f"{self.price_book_name}:{self.model_code}"


class ProductModelUpdateRequestedV1(Payload):
    """Bring CRM-owned product fields (marketing name and text) onto the ERP product."""

    EVENT_TYPE: ClassVar[str] = "bizbus.catalog.product-model.update-requested.v1"

    model_code: ModelCode
    marketing_name: str | None = Field(default=None, description="Name shown to customers.")
    description: str | None = Field(default=None, description="Marketing description.")

    def entity_key(self) -> str:
        """Return the product model code."""
        return self.model_code
