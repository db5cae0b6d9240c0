"""The declaration vocabulary's one rule of effect: emits are acked in order, then state moves."""

from typing import Any

import pytest

from bizbus.flows.runtime.spec import Emit, Output, Put, TableSpec, deliver, fresh_tables
from bizbus.schemas import OrderStatus, OrderUpdateRequestedV1, make_event


def event(order: str) -> Any:
    payload = OrderUpdateRequestedV1(crm_order_id=order, status=OrderStatus.ACCEPTED)
    return make_event(payload, source="bizbus://tests", correlationid="deal", origin="bizbus")


async def test_emits_are_published_in_order_and_each_put_after_the_emits_before_it() -> None:
    table: dict[str, Any] = {"gone": 1}
    seen: list[tuple[str, dict[str, Any]]] = []

    async def publish(emit: Emit) -> None:
        seen.append((emit.event.subject, dict(table)))

    outputs: list[Output] = [Emit(event("801")), Put(table, "801", "sent"), Emit(event("802")),
               Put(table, "gone", None)]  # fmt: skip
    await deliver(outputs, publish)
    assert seen == [("801", {"gone": 1}), ("802", {"gone": 1, "801": "sent"})]
    assert table == {"801": "sent"}, "a None value removes the key"


async def test_a_failed_publish_leaves_the_state_after_it_untouched_for_the_retry() -> None:
    table: dict[str, Any] = {}

    async def broker_down(emit: Emit) -> None:
        raise ConnectionError("broker unreachable")

    with pytest.raises(ConnectionError):
        await deliver([Emit(event("801")), Put(table, "801", "sent")], broker_down)
    assert table == {}


def test_fresh_tables_are_one_empty_dict_per_declared_table() -> None:
    assert fresh_tables(TableSpec("a", 3), TableSpec("b", 6, global_=True)) == {"a": {}, "b": {}}
