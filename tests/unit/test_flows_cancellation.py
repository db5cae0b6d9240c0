"""CRM cancellations: which rows ask for one, when the ERP may still cancel, what the CRM gets."""

from datetime import UTC, datetime
from typing import Any

import pytest

from bizbus.flows.order_updates.flow import order_fields
from bizbus.flows.orders import OrdersFlow
from bizbus.flows.orders.cancellation import (
    cancel_decision,
    cancellation_request,
    refusal_note,
)
from bizbus.schemas import (
    OrderCancellationRequestedV1,
    OrderCancelledV1,
    OrderStatus,
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
from tests.unit.test_flows_orders import order_crm, polled

NOW = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
ORDER = "801000000000042AAA"


def row(**fields: object) -> dict[str, object]:
    return {"Id": ORDER, "Status": "Cancelled", "ErpOrderRef__c": "S00042", **fields}


def test_a_sent_order_turned_cancelled_asks_the_erp_to_cancel() -> None:
    request = cancellation_request(row(), sent=False, now=NOW)
    assert request is not None
    assert (request.crm_order_id, request.erp_order_ref, request.requested_at) == (
        ORDER, "S00042", NOW,
    )  # fmt: skip


def test_an_order_placed_but_not_yet_written_back_is_sent_too() -> None:
    request = cancellation_request(row(ErpOrderRef__c=None), sent=True, now=NOW)
    assert request is not None and request.erp_order_ref is None


@pytest.mark.parametrize(
    ("fields", "sent"),
    [
        ({"Status": "Activated"}, True),
        ({"Status": "Draft"}, True),
        ({"ErpOrderRef__c": None}, False),  # never sent: nothing in the ERP to cancel
        ({"IsDeleted": True}, True),
        ({"ErpStatus__c": "Cancelled"}, True),  # the ERP cancelled first; we wrote both fields
    ],
)
def test_other_rows_ask_nothing(fields: dict[str, object], sent: bool) -> None:
    assert cancellation_request(row(**fields), sent=sent, now=NOW) is None


def order(state: str = "sale") -> dict[str, object]:
    return {"id": 7, "name": "S00042", "state": state}


@pytest.mark.parametrize("state", ["draft", "sent", "sale"])
def test_an_order_with_nothing_made_or_delivered_is_cancelled(state: str) -> None:
    productions = [{"name": "WH/MO/00001", "state": "confirmed"}]
    pickings = [{"name": "WH/OUT/00001", "state": "assigned", "picking_type_code": "outgoing"}]
    assert cancel_decision(order(state), productions, pickings).action == "cancel"


def test_a_cancelled_order_is_not_cancelled_again() -> None:
    assert cancel_decision(order("cancel"), [], []).action == "already"


def test_a_delivered_order_is_refused_with_the_delivery_named() -> None:
    pickings = [
        {"name": "WH/IN/00003", "state": "done", "picking_type_code": "incoming"},
        {"name": "WH/OUT/00002", "state": "done", "picking_type_code": "outgoing"},
    ]
    decision = cancel_decision(order(), [], pickings)
    assert decision.action == "refuse"
    assert decision.reason == "S00042 is delivered (WH/OUT/00002)"


@pytest.mark.parametrize("state", ["progress", "to_close", "done"])
def test_an_order_in_production_is_refused(state: str) -> None:
    productions = [
        {"name": "WH/MO/00009", "state": state},
        {"name": "WH/MO/00010", "state": "cancel"},
    ]
    decision = cancel_decision(order(), productions, [])
    assert (decision.action, decision.reason) == ("refuse", "S00042 is in production (WH/MO/00009)")


def test_a_locked_order_is_refused() -> None:
    decision = cancel_decision(order("done"), [], [])
    assert (decision.action, decision.reason) == ("refuse", "S00042 is locked (done)")


def test_the_refusal_note_fits_a_crm_text_field() -> None:
    assert refusal_note("S00042 is delivered (WH/OUT/00002)") == (
        "Cancellation refused by the ERP: S00042 is delivered (WH/OUT/00002)"
    )
    assert len(refusal_note("x" * 400)) == 255


def test_a_cancelled_status_withdraws_the_crm_order_from_any_status() -> None:
    command = OrderUpdateRequestedV1(crm_order_id=ORDER, status=OrderStatus.CANCELLED)
    fields, advances = order_fields(command, OrderStatus.IN_PRODUCTION)
    assert advances and fields == {"ErpStatus__c": "Cancelled", "Status": "Cancelled"}


def test_nothing_moves_a_cancelled_order_back() -> None:
    command = OrderUpdateRequestedV1(crm_order_id=ORDER, status=OrderStatus.SHIPPED)
    assert order_fields(command, OrderStatus.CANCELLED) == ({}, False)


def test_a_refusal_writes_its_note_and_no_status() -> None:
    note = refusal_note("S00042 is delivered (WH/OUT/00002)")
    command = OrderUpdateRequestedV1(crm_order_id=ORDER, integration_note=note)
    assert order_fields(command, OrderStatus.SHIPPED) == ({"IntegrationNote__c": note}, False)


async def test_a_cancelled_sent_order_asks_the_erp_once_and_our_echo_asks_nothing() -> None:
    flow = OrdersFlow(deps(crm=order_crm()))
    outputs = await flow.on_order(polled(Status="Cancelled", ErpOrderRef__c="S00042"))
    [event] = emitted(outputs)
    assert isinstance(event.data, OrderCancellationRequestedV1)
    assert event.data.erp_order_ref == "S00042" and puts(outputs) == [("801A", "cancel:S00042")]
    await settle(outputs)
    assert await flow.on_order(polled(Status="Cancelled", ErpOrderRef__c="S00042")) == []
    fresh = OrdersFlow(deps(crm=order_crm()))
    # Our own write after the ERP cancelled: both fields, so it asks nothing.
    echo = polled(Status="Cancelled", ErpStatus__c="Cancelled", ErpOrderRef__c="S00042",
                  LastModifiedById=INTEGRATION_USER)  # fmt: skip
    assert await fresh.on_order(echo) == []


async def test_a_cancel_read_after_our_status_write_back_still_asks_the_erp() -> None:
    # A person cancelled; our ErpStatus__c write landed after it, so we are the last editor.
    row = polled(Status="Cancelled", ErpStatus__c="Shipped", ErpOrderRef__c="S00042",
                 LastModifiedById=INTEGRATION_USER)  # fmt: skip
    [event] = emitted(await OrdersFlow(deps(crm=order_crm())).on_order(row))
    assert isinstance(event.data, OrderCancellationRequestedV1)


def erp_with(order_state: str, mo_state: str, picking_state: str) -> FakeErp:
    return FakeErp({
        "sale.order": {7: {"name": "S00042", "state": order_state, "client_order_ref": "801A"}},
        "mrp.production": {3: {"name": "WH/MO/00003", "state": mo_state, "origin": "S00042"}},
        "stock.picking": {5: {"name": "WH/OUT/00005", "state": picking_state, "origin": "S00042",
                              "picking_type_code": "outgoing"}},
    })  # fmt: skip


def cancel_record() -> Any:
    request = OrderCancellationRequestedV1(crm_order_id="801A", erp_order_ref="S00042",
                                           requested_at=NOW)  # fmt: skip
    return event_record(request, "cmd.erp.sales-order")


async def test_an_unmade_order_is_cancelled_in_the_erp_and_the_crm_told() -> None:
    erp = erp_with("sale", "confirmed", "waiting")
    answer, update = [e.data for e in emitted(await OrdersFlow(deps(erp=erp)).on_sales_order(
        cancel_record()))]  # fmt: skip
    assert erp.actions == [("sale.order", "action_cancel", [7])]
    assert isinstance(answer, OrderCancelledV1) and answer.outcome == "cancelled"
    assert isinstance(update, OrderUpdateRequestedV1) and update.status is OrderStatus.CANCELLED


async def test_a_cancelled_order_is_answered_without_a_second_cancel() -> None:
    erp = erp_with("cancel", "cancel", "cancel")
    [answer, _] = [e.data for e in emitted(await OrdersFlow(deps(erp=erp)).on_sales_order(
        cancel_record()))]  # fmt: skip
    assert erp.actions == [] and answer.outcome == "already_cancelled"


async def test_a_delivered_order_is_refused_and_the_crm_gets_the_reason() -> None:
    erp = erp_with("sale", "done", "done")
    [answer, update] = [e.data for e in emitted(await OrdersFlow(deps(erp=erp)).on_sales_order(
        cancel_record()))]  # fmt: skip
    assert erp.actions == []
    assert (answer.outcome, answer.reason) == ("refused", "S00042 is delivered (WH/OUT/00005)")
    assert update.status is None
    assert update.integration_note == refusal_note("S00042 is delivered (WH/OUT/00005)")
