"""Orders flow: which CRM orders are placed, what the ERP is asked for, parking; no broker."""

from decimal import Decimal
from typing import Any

import orjson
import pytest

from bizbus.connectors.base import ApplyResult, Outcome
from bizbus.connectors.errors import MappingError
from bizbus.flows.orders import OrdersFlow, parking
from bizbus.flows.orders.mapping import (
    order_digest,
    order_update,
    placed_order,
    product_ids,
    sale_order_payload,
    sales_order_command,
    skip_reason,
)
from bizbus.flows.runtime.record import RawRecord
from bizbus.flows.runtime.spec import WebRequest
from bizbus.flows.shared import crm_order_deal
from bizbus.schemas import (
    CustomerUpsertedV1,
    OrderPlacedV1,
    OrderStatus,
    OrderStatusChangedV1,
    OrderUpdateRequestedV1,
    ProductModelChangedV1,
    SalesOrderRequestedV1,
    SalesRep,
)
from tests.unit.test_flows_fakes import (
    INTEGRATION_USER,
    WHEN,
    Clock,
    FakeCrm,
    FakeErp,
    deps,
    emits,
    emitted,
    event_record,
    puts,
    record_of,
    settle,
    source_record,
)

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
    command = event_record(sales_order_command(placed()), "cmd.erp.sales-order")
    entry = parking.park(None, command, event_id="e1", missing=["customer:C1"],
                         reason="r", now=0.0)  # fmt: skip
    event, marker = parking.retry_event(entry, None)
    retried = RawRecord("cmd.erp.sales-order", 0, 8, b"801A", command.value, [*command.headers,
                                                                             *marker])  # fmt: skip
    assert record_of(event, "cmd.erp.sales-order").value == command.value
    assert event.id == dict(command.headers)["ce_id"].decode()
    assert parking.is_retry(retried) and not parking.is_retry(record())
    assert parking.waits_for(entry, "customer:C1") and not parking.waits_for(entry, "product:X")
    assert parking.is_due(entry, 10.0) and not parking.is_due(entry, 0.5)
    assert parking.summary(entry)["missing"] == ["customer:C1"]


def placed() -> OrderPlacedV1:
    return placed_order(order_row(), account=ACCOUNT, owner=OWNER, products=PRODUCTS)


def crm_answers(soql: str) -> list[dict[str, Any]]:
    if "FROM Product2" in soql:
        return [{"Id": key, **row} for key, row in PRODUCTS.items()]
    return [{"Id": "801A", "Account": {"Name": "上海电气", "AccountNumber": "C10001"}}]


def order_crm() -> FakeCrm:
    owner = {"Id": OWNER.user_id, "Name": OWNER.name}
    return FakeCrm({("User", OWNER.user_id): owner}, answer=crm_answers)


def polled(**changes: Any) -> RawRecord:
    row = order_row(OwnerId=OWNER.user_id, **changes)
    return source_record("crm", "Order", row, "src.crm.order")


async def test_an_activated_order_is_placed_once_in_its_deal_and_remembered_once_acked() -> None:
    flow = OrdersFlow(deps(crm=order_crm()))
    outputs = await flow.on_order(polled())
    [event] = emitted(outputs)
    assert isinstance(event.data, OrderPlacedV1) and event.data.account_number == "C10001"
    assert event.correlationid == crm_order_deal("801A")
    assert [key for key, _ in puts(outputs)] == ["801A", "801A"] and flow.placed == {}
    await settle(outputs)
    assert await flow.on_order(polled()) == [], "the same content again is not placed again"
    assert emitted(await flow.on_order(polled(TotalAmount=1.0))), "changed content is"


async def test_drafts_orders_sent_already_and_our_own_echoes_are_not_placed() -> None:
    flow = OrdersFlow(deps(crm=order_crm()))
    assert await flow.on_order(polled(Status="Draft")) == []
    assert not emitted(await flow.on_order(polled(ErpOrderRef__c="S00042")))
    assert await flow.on_order(polled(LastModifiedById=INTEGRATION_USER)) == []


async def test_a_placed_order_asks_for_its_sales_order_and_status_changes_pass_by() -> None:
    flow = OrdersFlow(deps())
    [event] = emitted(await flow.on_placed(event_record(placed(), "biz.sales.order")))
    assert isinstance(event.data, SalesOrderRequestedV1) and event.data.customer_ref == "C10001"
    changed = OrderStatusChangedV1(crm_order_id="801A", status=OrderStatus.SHIPPED,
                                   changed_at=WHEN)  # fmt: skip
    assert await flow.on_placed(event_record(changed, "biz.sales.order", origin="erp")) == []


def known_erp() -> FakeErp:
    erp = FakeErp(apply=lambda command: ApplyResult(Outcome.CREATED, {"name": "S00042"}))
    erp.known = {("res.partner", "ref", "C10001"): 7,
                 ("product.product", "default_code", "HL-SM-7.5"): 1,
                 ("product.product", "default_code", "HL-BS-40"): 2}  # fmt: skip
    return erp


def command_record() -> RawRecord:
    return event_record(sales_order_command(placed()), "cmd.erp.sales-order")


async def test_a_sales_order_command_confirms_the_erp_order_and_asks_for_the_write_back() -> None:
    erp = known_erp()
    flow = OrdersFlow(deps(erp=erp))
    [event] = emitted(await flow.on_sales_order(command_record()))
    assert isinstance(event.data, OrderUpdateRequestedV1) and event.data.erp_order_ref == "S00042"
    assert erp.applied[0].payload["confirm"] is True
    assert flow.deps.xref.get("order:801A") == {"crm": "801A", "erp": "S00042"}


async def test_a_missing_product_parks_the_order_and_its_announcement_sends_it_again() -> None:
    erp, clock = known_erp(), Clock()
    del erp.known[("product.product", "default_code", "HL-BS-40")]
    flow = OrdersFlow(deps(erp=erp, clock=clock))
    command = command_record()
    await settle(await flow.on_sales_order(command))
    assert flow.parked["801A"]["missing"] == ["product:HL-BS-40"] and erp.applied == []
    page = await flow.parked_page(WebRequest("GET"), publish=None)  # type: ignore[arg-type]
    assert orjson.loads(page.body)["801A"]["reason"] == "ERP lacks product:HL-BS-40"

    other = ProductModelChangedV1(model_code="HL-OTHER", erp_product_id=9, name="x", revision="A",
                                  uom="Units", changed_at=WHEN)  # fmt: skip
    assert await flow.on_product(event_record(other, "biz.catalog.product-model")) == []
    arrived = other.model_copy(update={"model_code": "HL-BS-40"})
    [resent] = emits(await flow.on_product(event_record(arrived, "biz.catalog.product-model")))
    assert resent.topic == "cmd.erp.sales-order"
    assert resent.headers == ((parking.RETRY_HEADER, b"1"),)
    assert resent.event.id == dict(command.headers)["ce_id"].decode()
    clock.now += parking.FIRST_DELAY_S  # due now, but re-sent and not back yet: the sweep waits
    assert await flow.sweep() == []

    erp.known[("product.product", "default_code", "HL-BS-40")] = 2
    retry = record_of(resent.event, "cmd.erp.sales-order")
    retry = RawRecord(retry.topic, 0, 1, retry.key, retry.value, [*retry.headers, *resent.headers])
    outputs = await flow.on_sales_order(retry)
    assert puts(outputs) == [("801A", None)]
    await settle(outputs)
    assert flow.parked == {} and await flow.on_sales_order(retry) == []
    assert await flow.sweep() == [] and flow.in_flight == {}


async def test_the_sweep_sends_a_parked_order_again_once_its_backoff_is_over() -> None:
    erp, clock = known_erp(), Clock()
    erp.known.pop(("res.partner", "ref", "C10001"))
    flow = OrdersFlow(deps(erp=erp, clock=clock))
    await settle(await flow.on_sales_order(command_record()))
    assert await flow.sweep() == []
    clock.now += parking.FIRST_DELAY_S
    [resent] = emits(await flow.sweep())
    assert resent.event.data.crm_order_id == "801A"
    customer = CustomerUpsertedV1(
        erp_customer_id=7, ref="C10001", name="上海电气", modified_at=WHEN
    )
    assert await flow.on_customer(event_record(customer, "biz.sales.customer", origin="erp")) == []
