"""Leads: CRM Lead rows → LeadCapturedV1 once per content; converted leads cross-referenced."""

from typing import Any

import pytest

from bizbus.connectors.errors import MappingError
from bizbus.flows.leads import LeadsFlow
from bizbus.flows.leads.mapping import map_lead
from bizbus.schemas import LeadCapturedV1
from bizbus.schemas.payloads.common import SalesRep
from tests.unit.test_flows_fakes import FakeCrm, deps, emitted, record_of, settle, source_record

OWNER_ID = "0055j000000AAAAAA"
OWNER = SalesRep(user_id=OWNER_ID, name="李娜", email="li.na@example.cn")
LEAD: dict[str, Any] = {
    "Id": "00Q5j000000LeAdAAA", "SystemModstamp": "2026-11-27T05:00:00.000+0000",
    "CreatedDate": "2026-11-26T09:30:00.000+0000", "LastModifiedById": OWNER_ID,
    "FirstName": "静", "LastName": "陈", "Name": "陈静", "Company": "苏州瑞达电子有限公司",
    "Title": "采购经理", "Email": "chen.jing@example.cn", "Phone": None,
    "MobilePhone": "+86 138 0000 0001", "LeadSource": "Trade Show",
    "Status": "Working - Contacted", "IsConverted": False, "ConvertedAccountId": None,
    "OwnerId": OWNER_ID,
}  # fmt: skip


def test_a_lead_row_maps_to_its_canonical_lead() -> None:
    lead = map_lead(LEAD, OWNER)
    assert (lead.lead_id, lead.company, lead.contact_name) == (LEAD["Id"], LEAD["Company"], "陈静")
    assert lead.phone == "+86 138 0000 0001" and lead.email == "chen.jing@example.cn"
    assert lead.captured_at.isoformat() == "2026-11-26T09:30:00+00:00"
    assert lead.converted_account_id is None  # not converted yet


def test_a_converted_lead_names_its_account_and_a_bad_email_is_dropped() -> None:
    row = LEAD | {"IsConverted": True, "ConvertedAccountId": "0015j000000AcCtAAA", "Email": "x@"}
    lead = map_lead(row, OWNER)
    assert lead.converted_account_id == "0015j000000AcCtAAA" and lead.email is None


def test_a_lead_without_company_is_a_mapping_error() -> None:
    with pytest.raises(MappingError, match="Company"):
        map_lead(LEAD | {"Company": None}, OWNER)


def flow() -> LeadsFlow:
    crm = FakeCrm({("User", OWNER_ID): {"Id": OWNER_ID, "Name": "李娜", "Email": OWNER.email}})
    return LeadsFlow(deps(crm=crm))


async def test_a_lead_is_published_once_per_content() -> None:
    leads = flow()
    record = source_record("crm", "Lead", LEAD, "src.crm.lead")
    [event] = await settle(await leads.on_lead(record))
    assert isinstance(event.data, LeadCapturedV1) and event.subject == LEAD["Id"]
    assert await leads.on_lead(record) == []  # a redelivery or a re-poll: nothing new
    changed = source_record("crm", "Lead", LEAD | {"Status": "Closed - Converted"}, "src.crm.lead")
    assert len(emitted(await leads.on_lead(changed))) == 1


async def test_a_deleted_lead_publishes_nothing() -> None:
    record = source_record("crm", "Lead", LEAD, "src.crm.lead", deleted=True)
    assert await flow().on_lead(record) == []


async def test_a_converted_lead_is_cross_referenced_to_its_account() -> None:
    leads = flow()
    converted = LEAD | {"IsConverted": True, "ConvertedAccountId": "0015j000000AcCtAAA"}
    [event] = emitted(await leads.on_lead(source_record("crm", "Lead", converted, "src.crm.lead")))

    assert await leads.on_captured(record_of(event, "biz.sales.lead")) == []
    assert leads.deps.xref.get(f"lead:{LEAD['Id']}") == {
        "crm": LEAD["Id"],
        "account": "0015j000000AcCtAAA",
    }
