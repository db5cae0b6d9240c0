"""Customers flow mapping: CRM Account rows → canonical accounts → ERP partner values."""

from datetime import UTC, datetime

import pytest

from bizbus.connectors.errors import MappingError
from bizbus.flows.customers_mapping import (
    customer_command,
    customer_event,
    customer_ref,
    map_account,
    map_address,
    partner_payload,
    sales_rep,
)
from bizbus.schemas import SalesRep

OWNER = SalesRep(user_id="0055j000000AAAAAA", name="李娜")
ROW = {
    "Id": "0015j000000CaR7AAK",
    "Name": "上海电气自动化设备有限公司",
    "AccountNumber": "C10001",
    "ErpCustomerRef__c": None,
    "BillingStreet": "浦东新区张江路 1388 号",
    "BillingCity": "上海",
    "BillingCountry": "中国",
    "Phone": "021-5888 0000",
    "Industry": "Machinery",
    "SystemModstamp": "2026-11-27T05:00:00.000+0000",
}


def test_customer_ref_prefers_the_cross_referenced_number_then_account_number_then_crm_id() -> None:
    assert customer_ref({**ROW, "ErpCustomerRef__c": "C10007"}) == "C10007"
    assert customer_ref(ROW) == "C10001"
    assert customer_ref({**ROW, "AccountNumber": "  "}) == "CRM-0015j000000CaR7AAK"


def test_account_maps_to_the_canonical_account_with_its_customer_number() -> None:
    account = map_account(ROW, OWNER)
    assert account.account_number == "C10001"
    assert account.billing_address is not None and account.billing_address.country == "CN"
    assert account.modified_at == datetime(2026, 11, 27, 5, tzinfo=UTC)
    assert account.owner == OWNER


def test_blank_country_is_the_home_market_and_an_unknown_one_is_refused() -> None:
    address = map_address({"BillingCity": "苏州"})
    assert address is not None and address.country == "CN"
    assert map_address({}) is None
    assert map_address({"BillingCountry": "de"}).country == "DE"  # type: ignore[union-attr]
    with pytest.raises(MappingError, match="unknown billing country"):
        map_address({"BillingCountry": "Atlantis"})


def test_account_without_a_name_is_a_mapping_error() -> None:
    with pytest.raises(MappingError):
        map_account({**ROW, "Name": ""}, OWNER)


def test_partner_values_carry_only_crm_owned_fields_that_are_set() -> None:
    values = partner_payload(customer_command(map_account(ROW, OWNER)))
    assert values == {
        "name": "上海电气自动化设备有限公司",
        "is_company": True,
        "street": "浦东新区张江路 1388 号",
        "city": "上海",
        "phone": "021-5888 0000",
    }


def test_customer_event_reads_the_erp_partner_as_odoo_returns_it() -> None:
    command = customer_command(map_account(ROW, OWNER))
    partner = {"id": 42, "name": "上海电气", "vat": False, "phone": False, "email": False,
               "active": True, "write_date": "2026-11-27 06:00:01"}  # fmt: skip
    event = customer_event(command, partner, fallback_time=datetime.now(UTC))
    assert (event.erp_customer_id, event.ref, event.crm_account_id) == (42, "C10001", ROW["Id"])
    assert event.vat is None and event.email is None
    assert event.modified_at == datetime(2026, 11, 27, 6, 0, 1, tzinfo=UTC)


def test_sales_rep_without_a_user_row_keeps_the_id() -> None:
    assert sales_rep("005X", None) == SalesRep(user_id="005X", name="005X")
    assert sales_rep("005X", {"Name": "王芳", "Email": "wang.fang@hengli-demo.cn"}).email
