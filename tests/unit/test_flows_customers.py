"""Customers flow: CRM Account rows → canonical accounts → ERP partners, handlers without Kafka."""

from datetime import UTC, datetime

import pytest

from bizbus.connectors.base import ApplyResult, Outcome
from bizbus.connectors.errors import MappingError, RejectedError, SchemaError
from bizbus.flows.customers import CustomersFlow
from bizbus.flows.customers.mapping import (
    country_code,
    customer_command,
    customer_event,
    map_account,
    map_address,
    partner_payload,
)
from bizbus.flows.shared import customer_ref, sales_rep
from bizbus.schemas import (
    AccountUpsertedV1,
    CustomerUpsertedV1,
    CustomerUpsertRequestedV1,
    SalesRep,
)
from tests.unit.test_flows_fakes import (
    INTEGRATION_USER,
    FakeCrm,
    FakeErp,
    deps,
    emitted,
    event_record,
    source_record,
)

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


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("France", "FR"), ("法国", "FR"), ("FR", "FR"), ("FRA", "FR"), ("fra", "FR"),
        ("中国", "CN"), ("中华人民共和国", "CN"), ("PRC", "CN"), ("中国大陆", "CN"),
        ("德国", "DE"), ("Germany", "DE"), ("美国", "US"), ("USA", "US"),
        ("United  States", "US"), ("香港", "HK"), ("台湾", "TW"), ("日本", "JP"),
    ],
)  # fmt: skip
def test_country_names_in_english_or_chinese_and_iso_codes_map_to_alpha_2(
    typed: str, code: str
) -> None:
    assert country_code(typed) == code
    assert map_address({"BillingCountry": f" {typed} "}).country == code  # type: ignore[union-attr]


def test_a_customer_in_france_is_no_longer_a_dead_letter() -> None:
    account = map_account({**ROW, "BillingCountry": "France"}, OWNER)
    assert account.billing_address is not None and account.billing_address.country == "FR"


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


ACCOUNT_TOPIC = "src.crm.account"
OWNER_ROW = {"Id": "0055j000000AAAAAA", "Name": "李娜", "Email": "li.na@hengli-demo.cn"}


def crm_with_owner() -> FakeCrm:
    return FakeCrm({("User", "0055j000000AAAAAA"): OWNER_ROW})


async def test_a_polled_account_becomes_the_canonical_account_of_its_owner() -> None:
    flow = CustomersFlow(deps(crm=crm_with_owner()))
    row = {**ROW, "OwnerId": "0055j000000AAAAAA"}
    source = source_record("crm", "Account", row, ACCOUNT_TOPIC)
    [event] = emitted(await flow.on_account(source))
    assert isinstance(event.data, AccountUpsertedV1)
    assert (event.data.account_number, event.data.owner.email) == ("C10001", "li.na@hengli-demo.cn")
    assert event.type == "bizbus.sales.account.upserted.v1" and event.origin == "crm"


async def test_echo_of_our_own_write_back_and_deletions_are_dropped() -> None:
    flow = CustomersFlow(deps(crm=crm_with_owner()))
    echo = {**ROW, "OwnerId": "0055j000000AAAAAA", "LastModifiedById": INTEGRATION_USER}
    assert await flow.on_account(source_record("crm", "Account", echo, ACCOUNT_TOPIC)) == []
    deleted = source_record("crm", "Account", ROW, ACCOUNT_TOPIC, deleted=True)
    assert await flow.on_account(deleted) == []


async def test_a_record_of_another_object_on_the_account_feed_is_a_schema_error() -> None:
    flow = CustomersFlow(deps(crm=crm_with_owner()))
    with pytest.raises(SchemaError, match="not a Account record"):
        await flow.on_account(source_record("crm", "Contact", ROW, ACCOUNT_TOPIC))


async def test_an_account_asks_for_its_erp_customer_in_the_same_deal() -> None:
    flow = CustomersFlow(deps())
    account = map_account(ROW, OWNER)
    source = event_record(account, "biz.sales.account")
    [event] = emitted(await flow.on_account_upserted(source))
    assert isinstance(event.data, CustomerUpsertRequestedV1) and event.data.ref == "C10001"
    assert event.correlationid == "deal-1"


PARTNER = {"name": "上海电气自动化设备有限公司", "ref": "C10001", "vat": False, "phone": False,
           "email": False, "active": True, "write_date": "2026-11-27 06:00:01"}  # fmt: skip


async def test_a_customer_command_upserts_the_partner_and_writes_its_number_back() -> None:
    crm = FakeCrm()
    created = ApplyResult(Outcome.CREATED, {"odoo_id": "42"})
    erp = FakeErp({"res.partner": {42: PARTNER}}, apply=lambda command: created)
    flow = CustomersFlow(deps(crm=crm, erp=erp))
    command = customer_command(map_account(ROW, OWNER))
    [event] = emitted(await flow.on_customer(event_record(command, "cmd.erp.customer")))
    [applied] = erp.applied
    assert (applied.entity, applied.external_key) == ("res.partner", "C10001")
    assert crm.updates == [("Account", ROW["Id"], {"ErpCustomerRef__c": "C10001"})]
    assert flow.deps.xref.get("customer:C10001") == {"crm": ROW["Id"], "erp": "42"}
    assert isinstance(event.data, CustomerUpsertedV1) and event.data.erp_customer_id == 42
    assert event.origin == "erp"


async def test_a_customer_number_another_account_holds_is_refused() -> None:
    flow = CustomersFlow(deps(crm=FakeCrm(), erp=FakeErp()))
    flow.deps.xref.record("customer:C10001", crm="001OTHER")
    command = customer_command(map_account(ROW, OWNER))
    with pytest.raises(RejectedError, match="already belongs to CRM account 001OTHER"):
        await flow.on_customer(event_record(command, "cmd.erp.customer"))


def test_the_flow_declares_its_feed_and_stages_by_their_agent_names() -> None:
    declared = CustomersFlow(deps()).declare()
    assert [(s.name, s.topic, sorted(s.systems)) for s in declared.stages] == [
        ("crm-accounts", "src.crm.account", ["crm"]),
        ("customer-requests", "biz.sales.account", []),
        ("erp-customers", "cmd.erp.customer", ["crm", "erp"]),
    ]
    assert [feed.name for feed in declared.feeds] == ["crm.account"]


def test_an_owner_address_the_contract_would_refuse_is_dropped_not_dead_lettered() -> None:
    for address in ("wang@corp", "wang fang@corp.cn", "@corp.cn", "x" * 250 + "@a.cn"):
        assert sales_rep("005X", {"Name": "王芳", "Email": address}).email is None, address
    assert sales_rep("005X", {"Email": "wang@corp.cn"}).email == "wang@corp.cn"
