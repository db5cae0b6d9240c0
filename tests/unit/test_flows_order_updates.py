"""The CRM order update sink: write-back always, status only when it advances, once acked."""

from bizbus.flows.order_updates import OrderUpdatesFlow
from bizbus.flows.order_updates.flow import order_fields
from bizbus.flows.runtime.record import RawRecord
from bizbus.schemas import OrderStatus, OrderStatusChangedV1, OrderUpdateRequestedV1
from tests.unit.test_flows_fakes import FakeCrm, deps, emitted, event_record, puts, settle


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


def update(**values: object) -> RawRecord:
    command = OrderUpdateRequestedV1.model_validate({"crm_order_id": "801", **values})
    return event_record(command, "cmd.crm.order")


async def test_an_advancing_status_is_written_announced_and_then_remembered() -> None:
    crm = FakeCrm()
    flow = OrderUpdatesFlow(deps(crm=crm))
    outputs = await flow.on_update(update(erp_order_ref="S00042", status=OrderStatus.ACCEPTED))
    assert crm.updates == [("Order", "801", {"ErpOrderRef__c": "S00042",
                                            "ErpStatus__c": "Confirmed"})]  # fmt: skip
    [event] = emitted(outputs)
    assert isinstance(event.data, OrderStatusChangedV1) and event.data.previous_status is None
    assert puts(outputs) == [("801", "accepted")]
    assert flow.statuses == {}, "remembered only once the event is acked"
    await settle(outputs)
    assert flow.statuses == {"801": "accepted"}


async def test_a_stale_status_after_a_later_one_writes_and_announces_nothing() -> None:
    crm = FakeCrm()
    flow = OrderUpdatesFlow(deps(crm=crm))
    flow.statuses["801"] = "shipped"
    assert await flow.on_update(update(status=OrderStatus.IN_PRODUCTION)) == []
    assert crm.updates == []
