"""Customer master: CRM leads and accounts (Salesforce), ERP customers (Odoo `res.partner`).

Keys: CRM record id for CRM events, ERP customer reference for ERP events; both topics are
compacted for accounts/customers because they hold the latest state.
"""

from typing import ClassVar

from pydantic import AwareDatetime, Field

from bizbus.schemas.payloads.common import Address, SalesRep
from bizbus.schemas.values import PERSONAL, Email, NonEmptyStr, Payload

__all__ = ["AccountUpsertedV1", "CustomerUpsertedV1", "LeadCapturedV1"]

USCC_PATTERN = r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$"
"""China's 18-character unified social credit code (统一社会信用代码)."""


class LeadCapturedV1(Payload):
    """A lead was captured in the CRM (e.g. from a trade-show business card)."""

    EVENT_TYPE: ClassVar[str] = "bizbus.sales.lead.captured.v1"

    lead_id: NonEmptyStr = Field(description="CRM lead id (Salesforce Lead.Id); canonical key.")
    company: NonEmptyStr = Field(description="Company name.", examples=["苏州瑞达电子有限公司"])
    contact_name: NonEmptyStr = Field(
        description="Contact person.", examples=["陈静"], json_schema_extra=PERSONAL
    )
    title: str | None = Field(default=None, description="Contact's job title.")
    phone: str | None = Field(
        default=None, description="Phone number as written.", json_schema_extra=PERSONAL
    )
    email: Email | None = Field(
        default=None, description="Contact e-mail.", json_schema_extra=PERSONAL
    )
    lead_source: str | None = Field(
        default=None, description="Where the lead came from.", examples=["展会"]
    )
    owner: SalesRep = Field(description="Sales rep who owns the lead.")
    captured_at: AwareDatetime = Field(description="When the lead was created in the CRM.")
    notes: str | None = Field(
        default=None, description="Free-text notes from the rep.", json_schema_extra=PERSONAL
    )
    status: str | None = Field(
        default=None, description="Lead status in the CRM.", examples=["Working - Contacted"]
    )
    converted_account_id: str | None = Field(
        default=None, description="CRM account id the lead was converted into, once converted."
    )

    def entity_key(self) -> str:
        """Return the CRM lead id."""
        return self.lead_id


class AccountUpsertedV1(Payload):
    """A CRM account (customer master, CRM side) was created or changed."""

    EVENT_TYPE: ClassVar[str] = "bizbus.sales.account.upserted.v1"

    account_id: NonEmptyStr = Field(description="CRM account id (Account.Id); canonical key.")
    account_number: NonEmptyStr = Field(
        description="Customer number shared with the ERP (ERP `ref`).", examples=["C-2025-0042"]
    )
    name: NonEmptyStr = Field(description="Legal name of the customer.")
    credit_code: str | None = Field(
        default=None,
        pattern=USCC_PATTERN,
        description="Unified social credit code (统一社会信用代码), for Chinese companies.",
    )
    industry: str | None = Field(default=None, description="Industry as classified in the CRM.")
    billing_address: Address | None = Field(default=None, description="Billing address.")
    phone: str | None = Field(
        default=None, description="Main phone number.", json_schema_extra=PERSONAL
    )
    owner: SalesRep = Field(description="Sales rep who owns the account.")
    converted_from_lead_id: str | None = Field(
        default=None, description="Lead this account was converted from, if any."
    )
    modified_at: AwareDatetime = Field(description="CRM SystemModstamp of this version.")

    def entity_key(self) -> str:
        """Return the CRM account id."""
        return self.account_id


class CustomerUpsertedV1(Payload):
    """An ERP customer (Odoo `res.partner`, customer rank > 0) was created or changed."""

    EVENT_TYPE: ClassVar[str] = "bizbus.sales.customer.upserted.v1"

    erp_customer_id: int = Field(ge=1, description="ERP partner id.")
    ref: NonEmptyStr = Field(
        description="Customer number (ERP `ref` = CRM account number); canonical key.",
        examples=["C-2025-0042"],
    )
    name: NonEmptyStr = Field(description="Legal name of the customer.")
    vat: str | None = Field(default=None, description="Tax id (税号), usually the credit code.")
    address: Address | None = Field(default=None, description="Main address.")
    phone: str | None = Field(
        default=None, description="Main phone number.", json_schema_extra=PERSONAL
    )
    email: Email | None = Field(
        default=None, description="Main e-mail.", json_schema_extra=PERSONAL
    )
    crm_account_id: str | None = Field(
        default=None, description="CRM account id, when the customer came from the CRM."
    )
    active: bool = Field(default=True, description="False once archived in the ERP.")
    modified_at: AwareDatetime = Field(description="ERP write_date of this version (UTC).")

    def entity_key(self) -> str:
        """Return the customer number."""
        return self.ref
