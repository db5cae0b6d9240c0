"""Catalog mapping: canonical values, edits vs conflicts vs echoes, events and commands."""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from bizbus.flows.catalog.mapping import (
    NO_REVISION,
    classify,
    crm_model_code,
    crm_product_fields,
    crm_values,
    erp_values,
    in_system,
    map_edit_to_erp_command,
    map_model_to_crm_command,
    map_price_to_crm_command,
    model_changed,
    price_changed,
    product_edited,
)
from bizbus.flows.catalog.ownership import CatalogSettings

SETTINGS = CatalogSettings()
AT = datetime(2026, 11, 27, 5, 0, tzinfo=UTC)
ERP_ROW = {
    "id": 2, "default_code": "HL-CK6150", "name": "HL-CK6150 数控车床", "list_price": 128000.0,
    "x_model_revision": "B", "uom_name": "台", "active": True, "description_sale": False,
    "write_uid": [2, "Administrator"],
}  # fmt: skip
CRM_ROW = {
    "Id": "01t000000000001AAA", "Name": "HL-CK6150 数控车床", "ProductCode": "HL-CK6150",
    "Description": None, "IsActive": True, "QuantityUnitOfMeasure": "台",
    "ErpProductRef__c": "HL-CK6150", "ModelRevision__c": "B",
    "SystemModstamp": "2026-11-27T05:00:00.000+0000", "LastModifiedById": "005000000000001AAA",
}  # fmt: skip


def test_both_systems_read_the_same_product_as_the_same_canonical_values() -> None:
    erp = erp_values(ERP_ROW, SETTINGS)
    assert erp == {
        "name": "HL-CK6150 数控车床", "revision": "B", "uom": "台", "active": True,
        "list_price": "128000.00", "description": None,
    }  # fmt: skip
    crm = crm_values(CRM_ROW, SETTINGS, "Product2")
    assert {k: v for k, v in erp.items() if k in crm} == crm
    assert crm_values({"UnitPrice": 128000}, SETTINGS, "PricebookEntry") == {
        "list_price": "128000.00"
    }


def test_the_model_code_comes_from_product_code_or_the_erp_ref() -> None:
    assert crm_model_code(CRM_ROW) == "HL-CK6150"
    assert crm_model_code({"ProductCode": None, "ErpProductRef__c": "HL-HP100"}) == "HL-HP100"
    assert crm_model_code({"ProductCode": "no code"}) is None


def test_an_erp_price_change_is_an_edit_of_an_owned_field() -> None:
    before = erp_values(ERP_ROW, SETTINGS)
    after = {**before, "list_price": "132000.00", "revision": "C"}
    verdict = classify("erp", before, after, set(), SETTINGS)
    assert verdict.edits == {"list_price": "132000.00", "revision": "C"}
    assert verdict.conflicts == {}


def test_a_crm_price_change_is_a_conflict_unless_it_is_our_echo() -> None:
    before: dict[str, Any] = {"list_price": "132000.00"}
    human = classify("crm", before, {"list_price": "99999.00"}, set(), SETTINGS)
    assert (human.edits, human.conflicts) == ({}, {"list_price": "99999.00"})
    echo = classify("crm", before, {"list_price": "128000.00"}, {"list_price"}, SETTINGS)
    assert (echo.edits, echo.conflicts, echo.echoes) == ({}, {}, frozenset({"list_price"}))


def test_a_crm_description_edit_is_carried_and_a_first_sight_is_a_baseline() -> None:
    before = crm_values(CRM_ROW, SETTINGS, "Product2")
    edited = {**before, "description": "展会特惠"}
    assert classify("crm", before, edited, set(), SETTINGS).edits == {"description": "展会特惠"}
    first = classify("crm", None, {**edited, "revision": "Z"}, set(), SETTINGS)
    assert first.first and first.conflicts == {} and first.edits == {"description": "展会特惠"}


def test_a_value_equal_to_the_last_seen_one_counts_when_our_write_came_between() -> None:
    before: dict[str, Any] = {"list_price": "100000.00"}
    verdict = classify("crm", before, before, set(), SETTINGS, overwritten={"list_price"})
    assert verdict.conflicts == {"list_price": "100000.00"}


def test_erp_model_and_price_map_to_crm_commands() -> None:
    before = erp_values(ERP_ROW, SETTINGS)
    after = {**before, "list_price": "132000.00", "revision": "C"}
    model = model_changed("HL-CK6150", 2, after, before, AT)
    assert (model.revision, model.previous_revision, model.uom) == ("C", "B", "台")
    command = map_model_to_crm_command(model)
    assert in_system(crm_product_fields(command, SETTINGS), SETTINGS, "crm") == {
        "Name": "HL-CK6150 数控车床", "ModelRevision__c": "C", "QuantityUnitOfMeasure": "台",
        "IsActive": True,
    }  # fmt: skip
    price = price_changed("HL-CK6150", after, before, AT, SETTINGS)
    assert price.previous_price is not None
    assert (price.list_price.amount, price.previous_price.amount) == (
        Decimal("132000.00"), Decimal("128000.00"),
    )  # fmt: skip
    entry = map_price_to_crm_command(price, SETTINGS)
    assert (entry.price_book_name, entry.unit_price.amount, entry.flag_open_quotes) == (
        "Standard Price Book", Decimal("132000.00"), True,
    )  # fmt: skip


def test_a_first_price_flags_no_orders_and_a_model_without_revision_travels_as_a_dash() -> None:
    values = {**erp_values(ERP_ROW, SETTINGS), "revision": None}
    first = map_price_to_crm_command(price_changed("HL-X", values, None, AT, SETTINGS), SETTINGS)
    assert not first.flag_open_quotes
    model = model_changed("HL-X", 9, values, None, AT)
    assert model.revision == NO_REVISION
    fields = crm_product_fields(map_model_to_crm_command(model), SETTINGS)
    assert fields["revision"] is None


def test_a_crm_edit_maps_to_an_erp_update_and_clearing_is_explicit() -> None:
    edit = product_edited("HL-CK6150", "01t1", {"description": "新文案"}, CRM_ROW, SETTINGS)
    assert edit.changed_fields == ("Description",)
    command = map_edit_to_erp_command(edit)
    assert command is not None and command.description == "新文案"
    cleared = product_edited("HL-CK6150", "01t1", {"description": None}, CRM_ROW, SETTINGS)
    assert cleared.description == ""
    assert in_system({"description": None}, SETTINGS, "erp") == {"description_sale": False}
