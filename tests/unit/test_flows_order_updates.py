"""The CRM order update sink's pure rule: write-back always, status only when it advances."""

from bizbus.flows.order_updates import order_fields
from bizbus.schemas import OrderStatus, OrderUpdateRequestedV1


def test_erp_reference_is_written_back_without_a_status() -> None:
    fields, advances = order_fields(
        OrderUpdateRequestedV1(crm_order_id="8015j000000CaRAAA0", erp_order_ref="S00042"), None
    )
    assert fields == {"ErpOrderRef__c": "S00042"} and not advances


def test_a_status_that_advances_is_written_with_the_crm_picklist_value() -> None:
    command = OrderUpdateRequestedV1(crm_order_id="801", status=OrderStatus.IN_PRODUCTION)
    fields, advances = order_fields(command, OrderStatus.ACCEPTED)
    assert fields == {"ErpStatus__c": "InProduction"} and advances


def test_a_stale_status_never_moves_the_order_backwards() -> None:
    command = OrderUpdateRequestedV1(crm_order_id="801", status=OrderStatus.IN_PRODUCTION)
    assert order_fields(command, OrderStatus.SHIPPED) == ({}, False)
    assert order_fields(command, OrderStatus.IN_PRODUCTION) == ({}, False)


def test_placed_advances_but_has_no_crm_value_to_write() -> None:
    command = OrderUpdateRequestedV1(crm_order_id="801", status=OrderStatus.PLACED)
    assert order_fields(command, None) == ({}, True)
