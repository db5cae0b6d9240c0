"""Pure mapping of the customers flow: CRM Account rows → canonical accounts → ERP partner writes.

The customer number an account gets is `shared.customer_ref`. Billing countries are free text
in the CRM: English or Chinese names and ISO codes all resolve through ISO 3166 (pycountry).
"""

import gettext
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from typing import Any

import pycountry

from bizbus.connectors.errors import MappingError
from bizbus.connectors.fields import text
from bizbus.connectors.odoo import parse_odoo_datetime
from bizbus.connectors.salesforce.soql import parse_datetime
from bizbus.flows.shared import customer_ref
from bizbus.schemas import AccountUpsertedV1, Address, CustomerUpsertedV1, CustomerUpsertRequestedV1
from bizbus.schemas.payloads.common import SalesRep

__all__ = [
    "HOME_COUNTRY",
    "country_code",
    "customer_command",
    "customer_event",
    "map_account",
    "map_address",
    "partner_payload",
]

HOME_COUNTRY = "CN"  # a blank billing country is the company's home market
# What people type that ISO 3166 does not name (its names: 中国, 中华人民共和国, China, CHN …).
_ALIASES = {"prc": "CN", "中国大陆": "CN"}


@cache
def _chinese_names() -> dict[str, str]:
    """Return ISO 3166-1 names in Simplified Chinese (pycountry's zh_CN catalog) → alpha-2."""
    zh = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=["zh_CN"])
    names: dict[str, str] = {}
    for country in pycountry.countries:
        for attribute in ("name", "official_name", "common_name"):
            english = getattr(country, attribute, None)
            if english:
                names.setdefault(zh.gettext(english), country.alpha_2)
    return names


def country_code(country: str) -> str:
    """Return the ISO alpha-2 code of a country as people write it (name, 中文名, alpha-2/3).

    Raises:
        MappingError: No country has that name or code.
    """
    wanted = " ".join(country.split())
    found = _ALIASES.get(wanted.lower()) or _chinese_names().get(wanted)
    if found:
        return found
    try:
        return str(pycountry.countries.lookup(wanted).alpha_2)
    except LookupError:
        raise MappingError(f"crm: unknown billing country {country!r}") from None


def map_address(row: Mapping[str, Any], prefix: str = "Billing") -> Address | None:
    """Return the address of a row's `<prefix>Street/City/State/PostalCode/Country` fields.

    None when no address field is filled. A blank country means the company's home market
    (CN); a country ISO 3166 does not know is an error rather than a silently wrong address.
    """
    parts = {
        name: text(row.get(prefix + name)) for name in ("Street", "City", "State", "PostalCode")
    }
    country = text(row.get(prefix + "Country"))
    if not any(parts.values()) and country is None:
        return None
    return Address(
        country=HOME_COUNTRY if country is None else country_code(country),
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
    name = text(row.get("Name"))
    account_id = text(row.get("Id"))
    if not name or not account_id:
        raise MappingError("crm: account row without an Id or a Name")
    return AccountUpsertedV1(
        account_id=account_id,
        account_number=customer_ref(row),
        name=name,
        industry=text(row.get("Industry")),
        billing_address=map_address(row),
        phone=text(row.get("Phone")),
        owner=owner,
        modified_at=parse_datetime(str(row["SystemModstamp"])),
    )


def customer_command(account: AccountUpsertedV1) -> CustomerUpsertRequestedV1:
    """Return the ERP customer upsert a canonical account asks for."""
    return CustomerUpsertRequestedV1(
        crm_account_id=account.account_id, ref=account.account_number, name=account.name,
        address=account.billing_address, phone=account.phone,
    )  # fmt: skip


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


def customer_event(
    command: CustomerUpsertRequestedV1, partner: Mapping[str, Any], *, fallback_time: datetime
) -> CustomerUpsertedV1:
    """Return the ERP customer as it stands after the upsert (`partner` as Odoo reads it)."""
    written = partner.get("write_date")
    modified = parse_odoo_datetime(written) if isinstance(written, str) else fallback_time
    return CustomerUpsertedV1(
        erp_customer_id=int(partner["id"]),
        ref=command.ref,
        name=text(partner.get("name")) or command.name,
        vat=text(partner.get("vat")),
        address=command.address,
        phone=text(partner.get("phone")),
        email=text(partner.get("email")) if "@" in str(partner.get("email") or "") else None,
        crm_account_id=command.crm_account_id,
        active=partner.get("active", True) is not False,
        modified_at=modified,
    )
