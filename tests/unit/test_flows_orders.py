"""Orders flow mapping and parking: which CRM orders are placed, what the ERP is asked for."""

from decimal import Decimal
from typing import Any

import pytest

from bizbus.connectors.errors import MappingError
from bizbus.flows import parking
from bizbus.flows.orders_mapping import (
    order_digest,
    order_update,
    placed_order,
    product_ids,
    sale_order_payload,
    sales_order_command,
    skip_reason,
)
from bizbus.flows.runtime.record import RawRecord
from bizbus.schemas import OrderStatus, SalesRep

OWNER = SalesRep(user_id="0055j000000AAAAAA", name="张伟")
ACCOUNT = {"Id": "001A", "Name": "上海电气", "AccountNumber": "C10001", "ErpCustomerRef__c": None}
PRODUCTS = {
    "01tA": {"ProductCode": "HL-SM-7.5", "Name": "伺服电机"},
    "01tB": {"ProductCode": "HL-BS-40"},
}


def order_row(**changes: Any) -> dict[str, Any]:
    items = [
        {"Id": "802B", "OrderItemNumber": "0000000002", "Product2Id": "01tB", "Quantity": 4.0,
         "UnitPrice": 2200.5},
        {"Id": "802A", "OrderItemNumber": "0000000001", "Product2Id": "01tA", "Quantity": 2.0,
         "UnitPrice": 6500.0, "Description": "伺服电机 7.5kW"},
    ]  # fmt: skip
    row = {
        "Id": "801A", "OrderNumber": "00000100", "AccountId": "001A", "Status": "Activated",
        "EffectiveDate": "2026-11-27", "CurrencyIsoCode": "CNY", "TotalAmount": 21802.0,
        "ErpOrderRef__c": None, "SystemModstamp": "2026-11-27T05:00:00.000+0000",
        "LastModifiedDate": "2026-11-27T05:00:00.000+0000",
        "OrderItems": {"totalSize": 2, "done": True, "records": items},
    }  # fmt: skip
    return {**row, **changes}


def test_only_activated_orders_without_an_erp_order_are_placed() -> None:
    assert skip_reason(order_row(), deleted=False) is None
    assert skip_reason(order_row(Status="Draft"), deleted=False) == "status 'Draft'"
    assert skip_reason(order_row(ErpOrderRef__c="S00042"), deleted=False)
    assert skip_reason(order_row(), deleted=True) == "deleted"


def test_placed_order_lines_carry_model_codes_quantities_and_agreed_prices() -> None:
    order = placed_order(order_row(), account=ACCOUNT, owner=OWNER, products=PRODUCTS)
    assert [(line.line_no, line.model_code, line.quantity, line.unit_price.amount)
            for line in order.lines] == [
        (1, "HL-SM-7.5", Decimal(2), Decimal(6500)), (2, "HL-BS-40", Decimal(4), Decimal("2200.5"))
    ]  # fmt: skip
    assert order.lines[0].product_name == "伺服电机 7.5kW"
    assert order.account_number == "C10001"
    assert order.total_amount.amount == Decimal(21802)
    assert product_ids(order_row()) == ["01tA", "01tB"]


def test_order_with_a_product_without_code_or_without_items_is_a_mapping_error() -> None:
    with pytest.raises(MappingError, match="ProductCode"):
        placed_order(order_row(), account=ACCOUNT, owner=OWNER, products={"01tA": {}})
    with pytest.raises(MappingError, match="no items"):
        placed_order(order_row(OrderItems=None), account=ACCOUNT, owner=OWNER, products=PRODUCTS)


def test_digest_ignores_when_the_order_was_seen_but_not_what_it_asks_for() -> None:
    first = placed_order(order_row(), account=ACCOUNT, owner=OWNER, products=PRODUCTS)
    later = placed_order(
        order_row(LastModifiedDate="2026-11-27T06:00:00.000+0000"),
        account=ACCOUNT, owner=OWNER, products=PRODUCTS,
    )  # fmt: skip
    changed = placed_order(order_row(TotalAmount=1.0), account=ACCOUNT, owner=OWNER,
                           products=PRODUCTS)  # fmt: skip
    assert order_digest(first) == order_digest(later) != order_digest(changed)


def test_sale_order_payload_asks_for_a_confirmed_order_at_agreed_prices() -> None:
    command = sales_order_command(
        placed_order(order_row(), account=ACCOUNT, owner=OWNER, products=PRODUCTS)
    )
    payload = sale_order_payload(command)
    assert payload["partner_ref"] == "C10001" and payload["confirm"] is True
    assert [(line["product_default_code"], line["product_uom_qty"], line["price_unit"])
            for line in payload["order_line"]] == [
        ("HL-SM-7.5", Decimal(2), Decimal(6500)), ("HL-BS-40", Decimal(4), Decimal("2200.5"))
    ]  # fmt: skip
    update = order_update(command, "S00042")
    assert (update.crm_order_id, update.erp_order_ref, update.status) == (
        "801A", "S00042", OrderStatus.ACCEPTED
    )  # fmt: skip


def record(value: bytes = b"{}", headers: list[tuple[str, bytes]] | None = None) -> RawRecord:
    return RawRecord("cmd.erp.sales-order", 0, 7, b"801A", value, headers or [("ce_id", b"e1")])


def test_parking_keeps_the_command_and_backs_off_while_the_same_event_stays_parked() -> None:
    first = parking.park(None, record(), event_id="e1", missing=["product:HL-X"],
                         reason="ERP lacks product:HL-X", now=100.0)  # fmt: skip
    assert first["attempts"] == 1 and first["next_at"] == 100.0 + parking.FIRST_DELAY_S
    retried = record(headers=[("ce_id", b"e1"), (parking.RETRY_HEADER, b"1")])
    again = parking.park(first, retried, event_id="e1", missing=["product:HL-X"], reason="r",
                         now=103.0)  # fmt: skip
    assert again["attempts"] == 2 and again["parked_at"] == 100.0
    assert again["headers"] == [["ce_id", "e1"]]
    newer = parking.park(again, record(), event_id="e2", missing=["customer:C1"], reason="r",
                         now=104.0)  # fmt: skip
    assert newer["attempts"] == 1
    assert parking.retry_delay(20) == parking.MAX_DELAY_S


def test_a_parked_entry_is_retried_as_the_same_event_marked_as_a_retry() -> None:
    entry = parking.park(None, record(b'{"a": 1}'), event_id="e1", missing=["customer:C1"],
                         reason="r", now=0.0)  # fmt: skip
    value, headers = parking.retry_record(entry)
    retried = RawRecord("cmd.erp.sales-order", 0, 8, b"801A", value, headers)
    assert value == b'{"a": 1}' and parking.is_retry(retried) and not parking.is_retry(record())
    assert parking.waits_for(entry, "customer:C1") and not parking.waits_for(entry, "product:X")
    assert parking.is_due(entry, 10.0) and not parking.is_due(entry, 0.5)
    assert parking.summary(entry)["missing"] == ["customer:C1"]
