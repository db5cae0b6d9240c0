"""Catalog flow handlers without Kafka: first sight, edits, conflicts, echoes of our own writes."""

from typing import Any

from bizbus.flows.catalog import CatalogFlow
from bizbus.flows.catalog.mapping import map_model_to_crm_command, model_changed
from bizbus.flows.catalog.ownership import CatalogSettings
from bizbus.flows.catalog.writelog import writelog_key
from bizbus.schemas import (
    FieldConflictDetectedV1,
    PriceChangedV1,
    ProductEditedV1,
    ProductModelChangedV1,
    ProductUpsertRequestedV1,
)
from tests.unit.test_flows_catalog_mapping import CRM_ROW, ERP_ROW
from tests.unit.test_flows_fakes import (
    WHEN,
    FakeCrm,
    FakeErp,
    deps,
    emitted,
    event_record,
    puts,
    settle,
    source_record,
)

CODE = "HL-CK6150"


def erp_product(**changes: Any) -> Any:
    return source_record("erp", "product.template", {**ERP_ROW, **changes}, "src.erp.product")


def crm_product(**changes: Any) -> Any:
    return source_record("crm", "Product2", {**CRM_ROW, **changes}, "src.crm.product")


def flow_with(crm: Any = None, erp: Any = None) -> CatalogFlow:
    return CatalogFlow(deps(crm=crm, erp=erp or FakeErp()), settings=CatalogSettings())


async def test_a_first_seen_erp_product_announces_its_model_and_price_then_stores_it() -> None:
    flow = flow_with()
    outputs = await flow.on_erp_product(erp_product())
    model, price = emitted(outputs)
    assert isinstance(model.data, ProductModelChangedV1) and model.data.revision == "B"
    assert (
        isinstance(price.data, PriceChangedV1) and str(price.data.list_price.amount) == "128000.00"
    )
    assert [key for key, _ in puts(outputs)] == [writelog_key("erp", "product.template", CODE)]
    assert flow.state == {}, "stored only once the events are acked"
    await settle(outputs)
    assert emitted(await flow.on_erp_product(erp_product())) == [], "seen again, unchanged"


async def test_an_erp_revision_is_a_model_change_without_a_price_event() -> None:
    flow = flow_with()
    await settle(await flow.on_erp_product(erp_product()))
    [model] = emitted(await flow.on_erp_product(erp_product(x_model_revision="C")))
    assert isinstance(model.data, ProductModelChangedV1)
    assert (model.data.revision, model.data.previous_revision) == ("C", "B")


async def test_a_crm_edit_of_an_erp_owned_field_is_a_conflict_and_of_its_own_an_edit() -> None:
    flow = flow_with(crm=FakeCrm())
    await settle(await flow.on_erp_product(erp_product()))
    await settle(await flow.on_crm_product(crm_product()))
    [conflict] = emitted(await flow.on_crm_product(crm_product(Name="改了名字")))
    assert isinstance(conflict.data, FieldConflictDetectedV1)
    assert (conflict.data.field, conflict.data.owner_value) == ("name", "HL-CK6150 数控车床")
    assert conflict.data.resolution == "restore-owner-value"
    [edit] = emitted(await flow.on_crm_product(crm_product(Description="高刚性床身")))
    assert isinstance(edit.data, ProductEditedV1) and edit.data.description == "高刚性床身"


async def test_the_echo_of_our_own_crm_write_is_dropped_and_spent_once_handled() -> None:
    crm = FakeCrm(answer=lambda soql: [{"Id": CRM_ROW["Id"], "ErpProductRef__c": CODE}])
    flow = flow_with(crm=crm)
    await settle(await flow.on_crm_product(crm_product()))
    values: dict[str, Any] = {
        "name": "HL-CK6150 新名",
        "revision": "B",
        "uom": "台",
        "active": True,
    }
    command = map_model_to_crm_command(model_changed(CODE, 2, values, None, WHEN))
    assert await flow.apply_crm_product(event_record(command, "cmd.crm.product")) == []
    assert crm.updates == [("Product2", CRM_ROW["Id"], {"Name": "HL-CK6150 新名",
                                                        "ModelRevision__c": "B",
                                                        "QuantityUnitOfMeasure": "台",
                                                        "IsActive": True})]  # fmt: skip
    assert flow.deps.xref.get(f"product:{CODE}") == {"crm": CRM_ROW["Id"]}

    echo = await flow.on_crm_product(crm_product(Name="HL-CK6150 新名"))
    assert emitted(echo) == [], "our own write coming back is neither an edit nor a conflict"
    seen_key = writelog_key("crm", "Product2", CODE)
    assert seen_key in dict(puts(echo)) and flow.writelog.seen == {}
    await settle(echo)
    assert set(flow.writelog.seen[seen_key]) == {"name"}
    [conflict] = emitted(await flow.on_crm_product(crm_product(Name="HL-CK6150 新名 ")))
    assert isinstance(conflict.data, FieldConflictDetectedV1), "a later human edit counts"


async def test_a_model_change_asks_the_crm_for_the_product_upsert() -> None:
    flow = flow_with()
    model = model_changed(CODE, 2, {"name": "n", "revision": "B", "uom": "台"}, None, WHEN)
    [command] = emitted(
        await flow.on_model_changed(event_record(model, "biz.catalog.product-model"))
    )
    assert isinstance(command.data, ProductUpsertRequestedV1) and command.origin == "bizbus"


def test_the_flow_declares_its_three_feeds_and_ten_stages() -> None:
    declared = flow_with().declare()
    assert [feed.name for feed in declared.feeds] == [
        "erp.product", "crm.product", "crm.price-book-entry"
    ]  # fmt: skip
    assert len(declared.stages) == 10
    assert {s.name for s in declared.stages if not s.systems} == {
        "catalog-models-to-crm", "catalog-prices-to-crm", "catalog-edits-to-erp"
    }  # fmt: skip
