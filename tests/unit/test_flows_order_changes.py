"""CRM order changes: which rows ask for one, when the ERP may take it, what each side gets."""

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from bizbus.flows.orders import OrdersFlow
from bizbus.flows.orders.change import (
    change_decision,
    change_fingerprint,
    change_refusal_note,
    is_sent,
)
from bizbus.schemas import (
    Money,
    OrderChangedV1,
    OrderChangeRequestedV1,
    OrderLine,
    OrderUpdateRequestedV1,
)
from tests.unit.test_flows_fakes import (
    INTEGRATION_USER,
    FakeErp,
    deps,
    emitted,
    event_record,
    puts,
    settle,
)
from tests.unit.test_flows_orders import order_crm, order_row, polled

NOW = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)


def items(quantity: float = 2.0) -> dict[str, Any]:
    rows = [
        {"Id": "802B", "OrderItemNumber": "0000000002", "Product2Id": "01tB", "Quantity": 4.0,
         "UnitPrice": 2200.5},
        {"Id": "802A", "OrderItemNumber": "0000000001", "Product2Id": "01tA", "Quantity": quantity,
         "UnitPrice": 6500.0, "Description": "伺服电机 7.5kW"},
    ]  # fmt: skip
    return {"totalSize": 2, "done": True, "records": rows}


def test_only_activated_orders_with_their_erp_number_back_take_changes() -> None:
    assert is_sent(order_row(ErpOrderRef__c="S00042"))
    assert not is_sent(order_row())  # not written back yet: the placement path re-sends it
    assert not is_sent(order_row(ErpOrderRef__c="S00042", Status="Cancelled"))
    assert not is_sent(order_row(ErpOrderRef__c="S00042", IsDeleted=True))


def test_the_fingerprint_follows_lines_and_delivery_date_only() -> None:
    base = change_fingerprint(order_row())
    reordered = {**items(), "records": list(reversed(items()["records"]))}
    assert change_fingerprint(order_row(OrderItems=reordered)) == base
    ours = order_row(ErpOrderRef__c="S00042", ErpStatus__c="Confirmed", TotalAmount=1.0,
                     LastModifiedById=INTEGRATION_USER, IntegrationNote__c="x")  # fmt: skip
    assert change_fingerprint(ours) == base  # our write-back is no change
    assert change_fingerprint(order_row(OrderItems=items(3.0))) != base
    assert change_fingerprint(order_row(EndDate="2027-01-15")) != base


def sale_order(state: str = "sale") -> dict[str, object]:
    return {"id": 7, "name": "S00042", "state": state}


def test_a_content_the_erp_has_already_is_unchanged_whatever_its_state() -> None:
    shipped = [{"name": "WH/OUT/00002", "state": "done", "picking_type_code": "outgoing"}]
    assert change_decision(sale_order(), [], shipped, differs=False).action == "unchanged"


@pytest.mark.parametrize(
    ("state", "productions", "pickings", "reason"),
    [
        ("sale", [], [{"name": "WH/OUT/00002", "state": "done", "picking_type_code": "outgoing"}],
         "S00042 is delivered (WH/OUT/00002)"),
        ("sale", [{"name": "WH/MO/00009", "state": "progress"}], [],
         "S00042 is in production (WH/MO/00009)"),
        ("done", [], [], "S00042 is locked (done)"),
        ("cancel", [], [], "S00042 is cancelled"),
    ],
)  # fmt: skip
def test_a_change_of_a_made_shipped_locked_or_cancelled_order_is_refused(
    state: str, productions: list[dict[str, Any]], pickings: list[dict[str, Any]], reason: str
) -> None:
    decision = change_decision(sale_order(state), productions, pickings, differs=True)
    assert (decision.action, decision.reason) == ("refuse", reason)


@pytest.mark.parametrize("state", ["draft", "sent", "sale"])
def test_a_change_of_an_unmade_order_is_taken(state: str) -> None:
    productions = [{"name": "WH/MO/00001", "state": "confirmed"}]
    decision = change_decision(sale_order(state), productions, [], differs=True)
    assert decision.action == "change"


def test_the_refusal_note_fits_a_crm_text_field() -> None:
    assert change_refusal_note("S00042 is delivered (WH/OUT/00002)") == (
        "Change refused by the ERP: S00042 is delivered (WH/OUT/00002)"
    )
    assert len(change_refusal_note("x" * 400)) == 255


async def test_a_sent_order_changed_asks_the_erp_once_and_echoes_ask_nothing() -> None:
    flow = OrdersFlow(deps(crm=order_crm()))
    await settle(await flow.on_order(polled()))  # placed: its fingerprint is kept
    echo = polled(ErpOrderRef__c="S00042", ErpStatus__c="Confirmed",
                  LastModifiedById=INTEGRATION_USER)  # fmt: skip
    assert await flow.on_order(echo) == []
    # An item edit leaves the order's last editor as it was (here: us, from the write-back).
    changed = polled(ErpOrderRef__c="S00042", LastModifiedById=INTEGRATION_USER,
                     OrderItems=items(3.0), EndDate="2027-01-15")  # fmt: skip
    outputs = await flow.on_order(changed)
    [event] = emitted(outputs)
    assert isinstance(event.data, OrderChangeRequestedV1)
    assert event.data.erp_order_ref == "S00042"
    assert event.data.commitment_date == date(2027, 1, 15)
    assert [(line.model_code, line.quantity) for line in event.data.lines] == [
        ("HL-SM-7.5", Decimal(3)), ("HL-BS-40", Decimal(4))
    ]  # fmt: skip
    await settle(outputs)
    assert await flow.on_order(changed) == []  # re-read or redelivered: asked already


async def test_a_sent_order_first_seen_becomes_the_baseline_without_a_request() -> None:
    flow = OrdersFlow(deps(crm=order_crm()))
    outputs = await flow.on_order(polled(ErpOrderRef__c="S00042"))
    assert emitted(outputs) == [] and [key for key, _ in puts(outputs)] == ["801A"]


def erp_with(picking_state: str) -> FakeErp:
    erp = FakeErp({
        "sale.order": {7: {"name": "S00042", "state": "sale", "client_order_ref": "801A",
                           "commitment_date": False, "order_line": [21]}},
        "sale.order.line": {21: {"product_id": [11, "HL-SM-7.5"], "product_uom_qty": 2.0,
                                 "price_unit": 6500.0, "discount": 0.0}},
        "mrp.production": {},
        "stock.picking": {5: {"name": "WH/OUT/00005", "state": picking_state, "origin": "S00042",
                              "picking_type_code": "outgoing"}},
    })  # fmt: skip
    erp.known[("product.product", "default_code", "HL-SM-7.5")] = 11
    return erp


def change_record(quantity: int) -> Any:
    line = OrderLine(line_no=1, model_code="HL-SM-7.5", product_name="伺服电机 7.5kW",
                     quantity=Decimal(quantity),
                     unit_price=Money(amount=Decimal(6500), currency="CNY"))  # fmt: skip
    request = OrderChangeRequestedV1(crm_order_id="801A", erp_order_ref="S00042",
                                     lines=(line,), requested_at=NOW)  # fmt: skip
    return event_record(request, "cmd.erp.sales-order")


async def test_an_unshipped_order_gets_only_the_changed_quantity_and_the_note_cleared() -> None:
    erp = erp_with("waiting")
    outputs = await OrdersFlow(deps(erp=erp)).on_sales_order(change_record(3))
    assert erp.writes == [("sale.order", [7], {"order_line": [(1, 21, {"product_uom_qty": 3})]})]
    answer, update = [e.data for e in emitted(outputs)]
    assert isinstance(answer, OrderChangedV1) and answer.outcome == "changed"
    assert isinstance(update, OrderUpdateRequestedV1) and update.integration_note == ""


async def test_a_change_the_erp_has_already_writes_nothing() -> None:
    erp = erp_with("done")
    [answer] = [e.data for e in emitted(await OrdersFlow(deps(erp=erp)).on_sales_order(
        change_record(2)))]  # fmt: skip
    assert erp.writes == [] and answer.outcome == "unchanged"


async def test_a_change_of_a_shipped_order_is_refused_and_the_crm_gets_the_reason() -> None:
    erp = erp_with("done")
    [answer, update] = [e.data for e in emitted(await OrdersFlow(deps(erp=erp)).on_sales_order(
        change_record(3)))]  # fmt: skip
    assert erp.writes == []
    assert (answer.outcome, answer.reason) == ("refused", "S00042 is delivered (WH/OUT/00005)")
    assert update.integration_note == change_refusal_note("S00042 is delivered (WH/OUT/00005)")
