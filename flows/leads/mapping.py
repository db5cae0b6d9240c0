"""Pure mapping of the leads flow: a CRM Lead row → LeadCapturedV1, and its content digest."""

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

from bizbus.connectors.errors import MappingError
from bizbus.connectors.fields import text
from bizbus.connectors.salesforce.soql import parse_datetime
from bizbus.schemas import LeadCapturedV1
from bizbus.schemas.payloads.common import SalesRep
from bizbus.schemas.values import is_email

__all__ = ["lead_digest", "map_lead"]


def map_lead(row: Mapping[str, Any], owner: SalesRep) -> LeadCapturedV1:
    """Return the canonical lead of a CRM Lead row.

    Raises:
        MappingError: The row has no Id, company or name.
    """
    lead_id, company = text(row.get("Id")), text(row.get("Company"))
    name = text(row.get("Name")) or " ".join(
        part for part in (text(row.get("LastName")), text(row.get("FirstName"))) if part
    )
    if not lead_id or not company or not name:
        raise MappingError("crm: lead row without an Id, a Company or a name")
    email = text(row.get("Email"))
    converted = row.get("IsConverted") is True
    return LeadCapturedV1(
        lead_id=lead_id,
        company=company,
        contact_name=name,
        title=text(row.get("Title")),
        phone=text(row.get("MobilePhone")) or text(row.get("Phone")),
        email=email if email and is_email(email) else None,
        lead_source=text(row.get("LeadSource")),
        owner=owner,
        captured_at=parse_datetime(str(row.get("CreatedDate") or row["SystemModstamp"])),
        status=text(row.get("Status")),
        converted_account_id=text(row.get("ConvertedAccountId")) if converted else None,
    )


def lead_digest(lead: LeadCapturedV1) -> str:
    """Return a digest of the lead's content: a re-read of an unchanged lead publishes nothing."""
    content = lead.model_dump(mode="json")
    return hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]
