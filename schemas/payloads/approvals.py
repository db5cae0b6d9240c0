"""Approvals asked of people through the OA: a discounted order, a catalog field conflict.

A CRM order priced further below the ERP's list price than its salesperson may go is held; the
OA is asked (``DiscountApprovalRequestedV1`` on ``cmd.oa.approval-instance``) and its answer
(``DiscountDecidedV1``) travels on the order's own command key, after its placement. A field
conflict routed to people is asked the same way (``ConflictDecisionRequestedV1``); its answer
(``FieldConflictDecidedV1``) follows the conflict on ``biz.catalog.field-conflict``.
"""

from typing import ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from bizbus.schemas.payloads.catalog import FieldConflictDetectedV1, ModelCode
from bizbus.schemas.payloads.common import SalesRep
from bizbus.schemas.values import CurrencyCode, NonEmptyStr, Payload, UnsignedDecimalText

__all__ = [
    "ConflictDecisionRequestedV1",
    "DiscountApprovalRequestedV1",
    "DiscountDecidedV1",
    "DiscountedLine",
    "FieldConflictDecidedV1",
]


class DiscountedLine(BaseModel):
    """One order line priced below the ERP's list price."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    line_no: int = Field(ge=1, description="Line number within the order, from 1.")
    model_code: ModelCode
    quantity: UnsignedDecimalText = Field(description="Ordered quantity.")
    net_price: UnsignedDecimalText = Field(
        description="Agreed unit price after the line discount, in the order's currency."
    )
    erp_price: UnsignedDecimalText = Field(description="The ERP's list price of the model.")
    below_percent: UnsignedDecimalText = Field(
        description="How far the net price is below the ERP's price, in percent (2 decimals)."
    )


class DiscountApprovalRequestedV1(Payload):
    """Ask the OA to approve a CRM order priced beyond its salesperson's discount limit."""

    EVENT_TYPE: ClassVar[str] = "bizbus.sales.discount-approval.requested.v1"

    crm_order_id: NonEmptyStr = Field(description="CRM order id; key.")
    crm_order_number: NonEmptyStr = Field(description="CRM order number, for people.")
    customer_ref: NonEmptyStr = Field(description="Customer number the ERP customer has.")
    owner: SalesRep | None = Field(default=None, description="Salesperson who owns the order.")
    currency: CurrencyCode = Field(description="Currency of every price on the order.")
    limit_percent: UnsignedDecimalText = Field(
        description="Largest discount below the ERP's price the salesperson's role may give."
    )
    lines: tuple[DiscountedLine, ...] = Field(
        min_length=1, description="Every line priced below the ERP's price."
    )
    fingerprint: NonEmptyStr = Field(
        description="Digest of the order's lines: the OA instance's idempotency uuid is made "
        "from it and the order id, and a decision applies only to the lines it saw."
    )

    def entity_key(self) -> str:
        """Return the CRM order id."""
        return self.crm_order_id


class DiscountDecidedV1(Payload):
    """People decided a discount approval in the OA; the held order goes on or is rejected."""

    EVENT_TYPE: ClassVar[str] = "bizbus.sales.discount.decided.v1"

    crm_order_id: NonEmptyStr = Field(description="CRM order id; key.")
    fingerprint: NonEmptyStr = Field(description="Digest of the order lines that were decided.")
    decision: Literal["approved", "rejected"] = Field(description="What the approver decided.")
    comment: str | None = Field(
        default=None, max_length=2000, description="The approver's comment, if any."
    )
    oa_instance_code: NonEmptyStr = Field(description="The OA approval instance code.")
    decided_at: AwareDatetime = Field(description="When the OA instance was decided.")

    def entity_key(self) -> str:
        """Return the CRM order id."""
        return self.crm_order_id


class ConflictDecisionRequestedV1(Payload):
    """Ask people in the OA to settle a catalog field conflict: keep the owner's value or not."""

    EVENT_TYPE: ClassVar[str] = "bizbus.catalog.conflict-decision.requested.v1"

    conflict: FieldConflictDetectedV1 = Field(description="The conflict to decide.")

    def entity_key(self) -> str:
        """Return the product model code."""
        return self.conflict.model_code


class FieldConflictDecidedV1(Payload):
    """People settled a catalog field conflict in the OA; the catalog flow writes the winner."""

    EVENT_TYPE: ClassVar[str] = "bizbus.catalog.field-conflict.decided.v1"

    conflict: FieldConflictDetectedV1 = Field(description="The conflict that was decided.")
    resolution: Literal["restore-owner-value", "accept-edit"] = Field(
        description="Keep the owner's value (rejected in the OA: written back over the edit) "
        "or take the edit (approved: carried to the owner)."
    )
    comment: str | None = Field(
        default=None, max_length=2000, description="The approver's comment, if any."
    )
    oa_instance_code: NonEmptyStr = Field(description="The OA approval instance code.")
    decided_at: AwareDatetime = Field(description="When the OA instance was decided.")

    def entity_key(self) -> str:
        """Return the product model code."""
        return self.conflict.model_code
