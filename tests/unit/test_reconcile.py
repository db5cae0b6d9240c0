"""Reconciliation's pure parts: each kind's drift rules, merging, failures, heals and metrics."""

from datetime import date
from typing import Any

from prometheus_client import generate_latest

from bizbus.connectors.errors import TransientError
from bizbus.flows.catalog.ownership import CatalogSettings
from bizbus.flows.catalog.reconcile import price_drift
from bizbus.flows.customers.reconcile import customer_drift
from bizbus.flows.fulfilment.reconcile import erp_status, status_drift
from bizbus.flows.order_updates.flow import order_fields
from bizbus.flows.orders.reconcile import placement_drift
from bizbus.flows.runtime.metrics import FlowMetrics
from bizbus.flows.runtime.reconcile import (
    Drift,
    Reconciled,
    Reconciler,
    heal,
    heals_of,
    reconcile,
    scheduled,
)
from bizbus.schemas import (
    CustomerUpsertRequestedV1,
    OrderStatus,
    OrderUpdateRequestedV1,
    PriceBookEntryUpsertRequestedV1,
)

SETTINGS = CatalogSettings()
TODAY = date(2026, 12, 1)


def test_a_crm_price_that_differs_from_the_erp_is_healed_with_the_erp_price() -> None:
    [drift] = price_drift({"HL-1": "100.00", "HL-2": "5.00"}, {"HL-1": "90.00", "HL-2": "5.00"},
                          SETTINGS, today=TODAY)  # fmt: skip
    assert (drift.key, drift.issue, drift.detail) == (
        "HL-1",
        "price differs",
        "ERP 100.00, CRM 90.00",
    )
    assert drift.heal is not None
    command = drift.heal.event.data
    assert isinstance(command, PriceBookEntryUpsertRequestedV1)
    assert str(command.unit_price.amount) == "100.00" and command.valid_from == TODAY
    assert command.flag_open_quotes is False  # the ERP price did not move
    assert drift.heal.event.origin == "bizbus"


def test_a_missing_crm_entry_is_healed_and_a_missing_product_only_reported() -> None:
    drifts = price_drift({"HL-1": "1.00", "HL-2": "2.00", "HL-3": None}, {"HL-1": None},
                         SETTINGS, today=TODAY)  # fmt: skip
    assert [(d.key, d.issue, d.heal is not None) for d in drifts] == [
        ("HL-1", "no CRM price", True),
        ("HL-2", "not in the CRM", False),
    ]


def account(**fields: Any) -> dict[str, Any]:
    row = {"Id": "001A", "Name": "Acme", "AccountNumber": "C-1", "Phone": "+86 10 1234"}
    return {**row, "SystemModstamp": "2026-12-01T00:00:00.000+0000", "OwnerId": "005U", **fields}


def test_a_partner_that_differs_names_the_fields_never_their_values() -> None:
    partners = {"C-1": {"ref": "C-1", "name": "Acme", "phone": "+86 10 9999"}}
    drift = customer_drift(account(), partners)
    assert drift is not None and drift.issue == "fields differ"
    assert drift.detail == "ref C-1: fields differ: phone"
    assert "1234" not in drift.detail and "9999" not in drift.detail
    assert drift.heal is not None and isinstance(drift.heal.event.data, CustomerUpsertRequestedV1)


def test_a_matching_partner_is_no_drift_and_a_missing_one_is_healed() -> None:
    same = {"C-1": {"ref": "C-1", "name": "Acme", "phone": "+86 10 1234", "vat": False}}
    assert customer_drift(account(), same) is None
    missing = customer_drift(account(), {})
    assert missing is not None and missing.issue == "not in the ERP" and missing.heal is not None


def test_an_account_that_cannot_be_mapped_is_reported_without_a_heal() -> None:
    drift = customer_drift(account(Name=""), {})
    assert drift is not None and drift.issue == "not mappable" and drift.heal is None
    garbled = customer_drift(account(SystemModstamp="Acme-garbled"), {})
    assert garbled is not None and garbled.issue == "not mappable"
    assert "Acme" not in garbled.detail  # the error is named, the record's values never shown


def test_an_account_without_an_owner_is_compared_as_the_flow_reads_it() -> None:
    orphan = account(OwnerId=None, LastModifiedById="005E")
    partners = {"C-1": {"ref": "C-1", "name": "Acme", "phone": "+86 10 1234"}}
    assert customer_drift(orphan, partners) is None


def test_the_erp_status_is_the_furthest_step_the_erp_has_taken() -> None:
    assert erp_status({"state": "draft"}) is None
    assert erp_status({"state": "sale"}) is OrderStatus.ACCEPTED
    assert erp_status({"state": "sale", "productions": ["progress"]}) is OrderStatus.IN_PRODUCTION
    partly = [
        {"qty_delivered": 1, "product_uom_qty": 2},
        {"qty_delivered": 2, "product_uom_qty": 2},
    ]
    assert erp_status({"state": "sale", "lines": partly}) is OrderStatus.ACCEPTED
    full = [{"qty_delivered": 2, "product_uom_qty": 2}]
    assert erp_status({"state": "sale", "lines": full}) is OrderStatus.SHIPPED
    assert erp_status({"state": "sale", "lines": full, "invoiced": True}) is OrderStatus.INVOICED
    assert erp_status({"state": "cancel", "invoiced": True}) is OrderStatus.CANCELLED


def test_a_crm_order_behind_its_erp_order_is_reasserted_and_one_ahead_left_alone() -> None:
    erp = {"name": "S00042", "state": "sale", "productions": ["progress"]}
    behind = status_drift({"Id": "801", "ErpStatus__c": "Confirmed", "ErpOrderRef__c": "S00042"},
                          erp)  # fmt: skip
    assert behind is not None and behind.issue == "status behind"
    assert behind.detail == "S00042: ERP InProduction, CRM Confirmed"
    assert behind.heal is not None
    command = behind.heal.event.data
    assert isinstance(command, OrderUpdateRequestedV1)
    assert (command.status, command.reassert, command.erp_order_ref) == (
        OrderStatus.IN_PRODUCTION, True, "S00042")  # fmt: skip
    ahead = {"Id": "801", "ErpStatus__c": "Shipped", "ErpOrderRef__c": "S00042"}
    assert status_drift(ahead, erp) is None


def test_a_crm_order_without_its_erp_number_gets_it_written_back() -> None:
    drift = status_drift(
        {"Id": "801", "ErpStatus__c": "Confirmed"}, {"name": "S7", "state": "sale"}
    )
    assert drift is not None and drift.issue == "no ERP number"
    assert drift.heal is not None
    command = drift.heal.event.data
    assert isinstance(command, OrderUpdateRequestedV1)
    assert (command.erp_order_ref, command.status, command.reassert) == ("S7", None, False)


def test_an_activated_order_the_erp_lacks_is_told_apart_from_a_deleted_erp_order() -> None:
    assert placement_drift({"Id": "801"}).issue == "not in the ERP"
    gone = placement_drift({"Id": "802", "ErpOrderRef__c": "S9"})
    assert gone.issue == "ERP order missing" and gone.heal is None


def test_a_reasserted_status_is_written_again_but_a_stale_one_still_not() -> None:
    again = OrderUpdateRequestedV1(crm_order_id="801", status=OrderStatus.SHIPPED, reassert=True)
    assert order_fields(again, OrderStatus.SHIPPED) == ({"ErpStatus__c": "Shipped"}, False)
    assert order_fields(again, OrderStatus.INVOICED) == ({}, False)
    plain = OrderUpdateRequestedV1(crm_order_id="801", status=OrderStatus.SHIPPED)
    assert order_fields(plain, OrderStatus.SHIPPED) == ({}, False)


def price_heal(code: str, amount: str) -> Drift:
    [drift] = price_drift({code: amount}, {code: "1.00"}, SETTINGS, today=TODAY)
    return drift


def test_heals_are_sent_once_per_record_and_command() -> None:
    first, again = price_heal("HL-1", "2.00"), price_heal("HL-1", "2.00")
    unhealable = Drift("HL-9", "not in the CRM")
    assert [h.event.subject for h in heals_of([first, again, unhealable])] == [
        first.heal.event.subject if first.heal else None
    ]


def test_heal_events_are_bizbus_commands_in_a_deal_when_given() -> None:
    command = OrderUpdateRequestedV1(crm_order_id="801", erp_order_ref="S1")
    emit = heal(command, "orders", deal="deal-1")
    assert emit.event.correlationid == "deal-1" and emit.event.source == "bizbus://reconcile/orders"
    assert (
        heal(command, "orders").event.correlationid == heal(command, "orders").event.correlationid
    )


def fixed(kind: str, flow: str, result: Reconciled) -> Reconciler:
    async def check() -> Reconciled:
        return result

    return Reconciler(kind, flow, check)


def failing(kind: str) -> Reconciler:
    async def check() -> Reconciled:
        raise TransientError("erp: answered 503", system="erp")

    return Reconciler(kind, "fulfilment", check)


async def test_parts_of_one_kind_merge_and_a_failing_part_fails_its_whole_kind() -> None:
    drift = Drift("801", "not in the ERP")
    report = await reconcile([
        fixed("prices", "catalog", Reconciled(3)),
        fixed("orders", "orders", Reconciled(5, (drift,))),
        fixed("orders", "fulfilment", Reconciled(4, (Drift("802", "status behind"),))),
    ])  # fmt: skip
    assert report.results["orders"].checked == 5
    assert [d.key for d in report.results["orders"].drifts] == ["801", "802"]
    assert report.drift_count == 2 and not report.failures
    broken = await reconcile(
        [fixed("orders", "orders", Reconciled(5, (drift,))), failing("orders")]
    )
    assert "orders" not in broken.results
    assert broken.failures == {"orders": "erp: answered 503"}


async def test_the_scheduled_run_exports_drift_and_returns_heals_only_when_asked() -> None:
    metrics = FlowMetrics()
    drift = price_heal("HL-1", "2.00")
    checks = [fixed("prices", "catalog", Reconciled(7, (drift,)))]
    assert await scheduled(checks, heal=False, metrics=metrics, clock=lambda: 1000.0)() == []
    text = generate_latest(metrics.registry).decode()
    assert 'bizbus_reconcile_drift{kind="prices"} 1.0' in text
    assert 'bizbus_reconcile_checked{kind="prices"} 7.0' in text
    assert 'bizbus_reconcile_last_run_timestamp_seconds{kind="prices"} 1000.0' in text
    heals = await scheduled(checks, heal=True, metrics=metrics)()
    assert heals == [drift.heal]
