"""Product models and prices, CRM-owned and ERP-owned; keyed by the shared model code.

ERP owns model, revision, specs and list price; CRM owns marketing text and price-book entries.
"""

from datetime import date
from decimal import Decimal
from typing import Annotated, ClassVar, Literal, Self

from pydantic import AwareDatetime, Field, JsonValue, model_validator

from bizbus.schemas.values import Money, NonEmptyStr, Payload, Quantity

__all__ = [
    "MODEL_CODE_PATTERN",
    "FieldConflictDetectedV1",
    "ModelCode",
    "PriceBookEntryChangedV1",
    "PriceChangedV1",
    "ProductEditedV1",
    "ProductModelChangedV1",
]

MODEL_CODE_PATTERN = r"^[A-Z0-9][A-Z0-9._/-]*$"
"""Product model code: upper-case letters, digits and . _ / - (e.g. HX-200A)."""

ModelCode = Annotated[
    str,
    Field(
        pattern=MODEL_CODE_PATTERN,
        description="Product model code shared by CRM (ProductCode) and ERP (default_code).",
        examples=["HX-200A"],
    ),
]


class ProductModelChangedV1(Payload):
    """A product model was created or revised in the ERP (the system of record for it)."""

    EVENT_TYPE: ClassVar[str] = "bizbus.catalog.product-model.changed.v1"

    model_code: ModelCode
    erp_product_id: int = Field(ge=1, description="ERP product id (product.product).")
    name: NonEmptyStr = Field(description="Product name.", examples=["高速贴片机 HX-200A"])
    revision: NonEmptyStr = Field(description="Engineering revision of the model.", examples=["B"])
    previous_revision: str | None = Field(
        default=None, description="Revision this one replaces, if any."
    )
    category: str | None = Field(default=None, description="ERP product category.")
    uom: NonEmptyStr = Field(description="Unit of measure.", examples=["台"])
    specifications: dict[str, str] = Field(
        default_factory=dict,
        description="Technical specifications, name → value (规格参数).",
    )
    active: bool = Field(default=True, description="False once the model is discontinued.")
    changed_at: AwareDatetime = Field(description="ERP write_date of this revision (UTC).")

    def entity_key(self) -> str:
        """Return the product model code."""
        return self.model_code


class ProductEditedV1(Payload):
    """CRM-owned fields of a product were edited in the CRM (marketing name and text)."""

    EVENT_TYPE: ClassVar[str] = "bizbus.catalog.product.edited.v1"

    model_code: ModelCode
    crm_product_id: NonEmptyStr = Field(description="CRM product id (Product2.Id).")
    marketing_name: str | None = Field(default=None, description="Name shown to customers.")
    description: str | None = Field(default=None, description="Marketing description.")
    family: str | None = Field(default=None, description="CRM product family.")
    changed_fields: tuple[str, ...] = Field(
        default=(), description="CRM field names changed by this edit."
    )
    edited_by: str | None = Field(default=None, description="CRM user id of the editor.")
    edited_at: AwareDatetime = Field(description="CRM SystemModstamp of the edit.")

    def entity_key(self) -> str:
        """Return the product model code."""
        return self.model_code


class PriceChangedV1(Payload):
    """A list price of a product model changed in an ERP price list."""

    EVENT_TYPE: ClassVar[str] = "bizbus.pricing.price.changed.v1"

    pricelist_code: NonEmptyStr = Field(description="ERP price list code.", examples=["CN-STD"])
    pricelist_name: str | None = Field(default=None, description="Price list name.")
    model_code: ModelCode
    list_price: Money = Field(description="New list price per unit.")
    previous_price: Money | None = Field(default=None, description="Price it replaces, if any.")
    valid_from: date = Field(description="First day the price applies.")
    valid_to: date | None = Field(default=None, description="Last day it applies, if bounded.")
    min_quantity: Quantity = Field(
        default=Decimal(0),
        description="Minimum quantity for this price (0 = any).",
    )
    changed_at: AwareDatetime = Field(description="ERP write_date of the price rule (UTC).")

    def entity_key(self) -> str:
        """Return ``<pricelist>:<model>``, one compacted state per price-list row."""
        return f"{self.pricelist_code}:{self.model_code}"

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.previous_price and self.previous_price.currency != self.list_price.currency:
            raise ValueError("previous_price currency differs from list_price currency")
        if self.valid_to and self.valid_to < self.valid_from:
            raise ValueError("valid_to is before valid_from")
        return self


class PriceBookEntryChangedV1(Payload):
    """A CRM price-book entry (PricebookEntry) was created or changed."""

    EVENT_TYPE: ClassVar[str] = "bizbus.pricing.price-book-entry.changed.v1"

    entry_id: NonEmptyStr = Field(description="CRM price-book entry id.")
    price_book_id: NonEmptyStr = Field(description="CRM price book id.")
    price_book_name: str | None = Field(default=None, description="CRM price book name.")
    crm_product_id: NonEmptyStr = Field(description="CRM product id (Product2.Id).")
    model_code: ModelCode
    unit_price: Money = Field(description="Unit price in the price book.")
    active: bool = Field(default=True, description="Whether the entry can be used on orders.")
    changed_at: AwareDatetime = Field(description="CRM SystemModstamp of the entry.")

    def entity_key(self) -> str:
        """Return ``<price book id>:<model>``."""
        return f"{self.price_book_id}:{self.model_code}"


class FieldConflictDetectedV1(Payload):
    """A system that does not own a synced product field changed it; the policy's verdict.

    Recorded so that no conflicting edit is silently lost: both values, who edited, and
    whether the owner's value is restored (``owner-wins``) or the edit is accepted
    (``last-writer-wins``).
    """

    EVENT_TYPE: ClassVar[str] = "bizbus.catalog.field-conflict.detected.v1"

    model_code: ModelCode
    field: NonEmptyStr = Field(
        description="Synced field, by its bizbus name.", examples=["list_price"]
    )
    owner: Literal["crm", "erp"] = Field(description="System of record of the field.")
    edited_in: Literal["crm", "erp"] = Field(description="System where the edit was made.")
    edited_object: NonEmptyStr = Field(
        description="Object edited in that system.", examples=["PricebookEntry"]
    )
    edited_record_id: NonEmptyStr = Field(description="Id of the edited record there.")
    edited_value: JsonValue = Field(description="Value the edit set (text for amounts).")
    owner_value: JsonValue = Field(
        description="Value the owner holds (null when bizbus has not seen it yet)."
    )
    policy: Literal["owner-wins", "last-writer-wins"] = Field(
        description="Conflict policy in force when the edit was seen."
    )
    resolution: Literal["restore-owner-value", "accept-edit", "ask-people"] = Field(
        description="What bizbus does about it: write the owner's value back over the edit, "
        "carry the edit to the owner, or ask people in the OA (`BIZBUS_CATALOG_CONFLICTS_TO="
        "oa`), whose decision follows as FieldConflictDecidedV1."
    )
    detected_at: AwareDatetime = Field(description="When the edit was seen (source time, UTC).")

    def entity_key(self) -> str:
        """Return the product model code."""
        return self.model_code
