"""Pure mapping of the customers flow: CRM Account rows → canonical accounts → ERP partner writes.

The customer number the ERP knows a customer by (partner `ref`) is, in this order: the account's
`ErpCustomerRef__c` (once cross-referenced it never moves), its `AccountNumber`, or `CRM-<id>`
derived from the CRM id, so an account without a number still gets one stable reference.
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bizbus.connectors.errors import MappingError
from bizbus.connectors.odoo import parse_odoo_datetime
from bizbus.connectors.salesforce.soql import parse_datetime
from bizbus.schemas import AccountUpsertedV1, Address, CustomerUpsertedV1, CustomerUpsertRequestedV1
from bizbus.schemas.payloads.common import SalesRep

__all__ = [
    "COUNTRY_CODES",
    "customer_command",
    "customer_event",
    "customer_ref",
    "map_account",
    "map_address",
    "partner_payload",
    "sales_rep",
]

# CRM BillingCountry as people type it → ISO 3166-1 alpha-2 (the CRM picklist is free text).
COUNTRY_CODES = {
    "中国": "CN", "中华人民共和国": "CN", "china": "CN", "prc": "CN", "中国大陆": "CN",
    "香港": "HK", "hong kong": "HK", "台湾": "TW", "taiwan": "TW", "日本": "JP", "japan": "JP",
    "德国": "DE", "germany": "DE", "美国": "US", "usa": "US", "united states": "US",
}  # fmt: skip


def _text(row: Mapping[str, Any], name: str) -> str | None:
    value = row.get(name)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def sales_rep(user_id: str, user: Mapping[str, Any] | None) -> SalesRep:
    """Return the owner of a CRM record from its User row (`Name`, `Email`); id alone if unknown."""
    user = user or {}
    email = _text(user, "Email")
    return SalesRep(
        user_id=user_id,
        name=_text(user, "Name") or user_id,
        email=email if email and "@" in email and " " not in email else None,
    )


def customer_ref(row: Mapping[str, Any]) -> str:
    """Return the ERP customer number of a CRM Account row (see the module docstring)."""
    ref = _text(row, "ErpCustomerRef__c") or _text(row, "AccountNumber")
    if ref:
        return ref
    account_id = _text(row, "Id")
    if not account_id:
        raise MappingError("crm: account row without an Id")
    return f"CRM-{account_id}"


def map_address(row: Mapping[str, Any], prefix: str = "Billing") -> Address | None:
    """Return the address of a row's `<prefix>Street/City/State/PostalCode/Country` fields.

    None when no address field is filled. A blank country means the company's home market
    (CN); a country name no table knows is an error rather than a silently wrong address.
    """
    parts = {name: _text(row, prefix + name) for name in ("Street", "City", "State", "PostalCode")}
    country = _text(row, prefix + "Country")
    if not any(parts.values()) and country is None:
        return None
    if country is None:
        code = "CN"
    elif len(country) == 2 and country.isascii() and country.isalpha():
        code = country.upper()
    else:
        found = COUNTRY_CODES.get(country.lower())
        if found is None:
            raise MappingError(
                f"crm: unknown billing country {country!r} (add it to COUNTRY_CODES)"
            )
        code = found
    return Address(
        country=code,
        province=parts["State"],
        city=parts["City"],
        street=parts["Street"],
        postal_code=parts["PostalCode"],
    )


def map_account(row: Mapping[str, Any], owner: SalesRep) -> AccountUpsertedV1:
    """Return the canonical account of a CRM Account row (`modified_at` = SystemModstamp).

    Raises:
        MappingError: The row has no Id or name, or an unknown billing country.
    """
    name = _text(row, "Name")
    account_id = _text(row, "Id")
    if not name or not account_id:
        raise MappingError("crm: account row without an Id or a Name")
    return AccountUpsertedV1(
        account_id=account_id,
        account_number=customer_ref(row),
        name=name,
        industry=_text(row, "Industry"),
        billing_address=map_address(row),
        phone=_text(row, "Phone"),
        owner=owner,
        modified_at=parse_datetime(str(row["SystemModstamp"])),
    )


def customer_command(account: AccountUpsertedV1) -> CustomerUpsertRequestedV1:
    """Return the ERP customer upsert a canonical account asks for."""
    return CustomerUpsertRequestedV1(
        crm_account_id=account.account_id,
        ref=account.account_number,
        name=account.name,
        address=account.billing_address,
        phone=account.phone,
    )


def partner_payload(command: CustomerUpsertRequestedV1) -> dict[str, Any]:
    """Return the Odoo `res.partner` values of a customer upsert (CRM-owned fields only)."""
    values: dict[str, Any] = {"name": command.name, "is_company": True}
    address = command.address
    if address is not None:
        street = " ".join(p for p in (address.province, address.district, address.street) if p)
        values |= {"street": street or None, "city": address.city, "zip": address.postal_code}
    if command.phone:
        values["phone"] = command.phone
    if command.email:
        values["email"] = command.email
    if command.vat:
        values["vat"] = command.vat
    return {name: value for name, value in values.items() if value is not None}


def _odoo_text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def customer_event(
    command: CustomerUpsertRequestedV1, partner: Mapping[str, Any], *, fallback_time: datetime
) -> CustomerUpsertedV1:
    """Return the ERP customer as it stands after the upsert (`partner` as Odoo reads it)."""
    written = partner.get("write_date")
    modified = parse_odoo_datetime(written) if isinstance(written, str) else fallback_time
    return CustomerUpsertedV1(
        erp_customer_id=int(partner["id"]),
        ref=command.ref,
        name=_odoo_text(partner.get("name")) or command.name,
        vat=_odoo_text(partner.get("vat")),
        address=command.address,
        phone=_odoo_text(partner.get("phone")),
        email=_odoo_text(partner.get("email")) if "@" in str(partner.get("email") or "") else None,
        crm_account_id=command.crm_account_id,
        active=partner.get("active", True) is not False,
        modified_at=modified,
    )
