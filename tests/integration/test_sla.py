"""A CRM order stuck behind an ERP outage raises an SLA alert, cleared once the ERP is back.

Real worker, real broker, sandbox CRM and ERP (the ERP answers 503 until told otherwise). The
alert is read from its Kafka topic, the worker's log and its `/metrics`.
"""

import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from bizbus.deploy.demo.actors import CrmUser, ErpUser
from bizbus.flows.shared import crm_order_deal
from bizbus.schemas import Envelope, SlaBreachedV1, SlaClearedV1, decode_record
from tests.integration.flowstack import FlowStack
from tests.integration.test_flow_orders import known_customer, read_topic
from tests.integration.test_outages import set_faults

DUE_S = 4  # the order-to-erp limit of this stack


@pytest.fixture(scope="module")
def stack(flow_stack_factory: Any) -> Iterator[FlowStack]:
    started: FlowStack = flow_stack_factory(
        flows="customers,orders,fulfilment,sla",
        systems=("crm", "erp"),
        worker_env={"BIZBUS_SLA_ORDER_TO_ERP_S": str(DUE_S)},
    )
    yield started


async def alerts(stack: FlowStack, subject: str) -> list[Envelope[Any]]:
    records = await read_topic(stack, "biz.ops.sla-alert")
    events = [
        decode_record(value, [(k, v.encode()) for k, v in headers.items()], keys=stack.keys)
        for key, headers, value in records
        if key == subject.encode()
    ]
    return events


async def breaches_gauge(stack: FlowStack) -> float:
    async with stack.web() as http:
        text = (await http.get("/metrics")).text
    [line] = [row for row in text.splitlines() if row.startswith("bizbus_sla_breaches ")]
    return float(line.split()[1])


async def wait_gauge(stack: FlowStack, value: float) -> None:
    async def shows() -> bool:
        return await breaches_gauge(stack) == value

    await stack.wait_for(shows, what=f"bizbus_sla_breaches {value}")


async def test_an_order_held_by_an_erp_outage_raises_an_alert_that_clears_after_it(
    stack: FlowStack, crm: CrmUser, erp: ErpUser
) -> None:
    account_id = await known_customer(stack, crm, erp)
    await set_faults(stack.urls["erp"], outage_until=time.time() + 3600)  # until lifted below
    try:
        order_id = await crm.place_order(account_id, [("HL-BS-40", 2, Decimal("2300"))])
        subject = f"order-to-erp:{order_id}"

        async def raised() -> list[Envelope[Any]]:
            return [e for e in await alerts(stack, subject) if isinstance(e.data, SlaBreachedV1)]

        [breach] = await stack.wait_for(raised, what="the SLA alert of the held order")
        assert breach.data.record == f"CRM order {order_id}"
        assert breach.data.awaited == "an ERP sales order"
        assert breach.correlationid == crm_order_deal(order_id)  # in the order's deal
        line = f"SLA order-to-erp breached: CRM order {order_id} still awaits an ERP sales order"
        assert line in stack.log_path.read_text()
        await wait_gauge(stack, 1)  # the table marks it once the alert is acked
    finally:
        await set_faults(stack.urls["erp"])

    async def cleared() -> list[Envelope[Any]]:
        return [e for e in await alerts(stack, subject) if isinstance(e.data, SlaClearedV1)]

    [clear] = await stack.wait_for(cleared, what="the alert cleared once the ERP is back")
    assert clear.data.outcome == "done" and clear.data.late_by_s > 0
    rows = await erp.search_read("sale.order", [("client_order_ref", "=", order_id)], ["name"])
    assert len(rows) == 1
    await wait_gauge(stack, 0)
    assert len(await alerts(stack, subject)) == 2  # raised once, cleared once
