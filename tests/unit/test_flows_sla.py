"""Business-SLA monitors: rules turn deal events into watch steps; late watches raise alerts."""

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from bizbus.flows.context import FlowDeps
from bizbus.flows.settings import RuntimeSettings
from bizbus.flows.sla import SlaFlow
from bizbus.flows.sla.rules import SlaLimits, watch_steps
from bizbus.flows.sla.watches import CLOSED_KEPT_S
from bizbus.flows.xref import Xref
from bizbus.schemas import (
    Envelope,
    OrderStatus,
    SlaBreachedV1,
    SlaClearedV1,
    SlaStepObservedV1,
    parse_event,
)
from tests.unit.test_flows_fakes import Clock, FakeConnections, emitted, record_of, settle

FIXTURES = Path(__file__).parents[1] / "fixtures" / "events"
ORDER = "801J8000003aBcDIAU"
TRIP = "7C1E4B2A-5D0F-4E8A-9B1C-3F2D6A8E0B17"
LIMITS = SlaLimits(600.0, 1200.0, True, ZoneInfo("Asia/Shanghai"))


def fixture(event_type: str, **data: Any) -> Envelope[Any]:
    raw = json.loads((FIXTURES / f"{event_type}.json").read_text(encoding="utf-8"))
    raw["data"] |= data
    return parse_event(raw)


PLACED = fixture("bizbus.sales.order.placed.v1")
SALES_ORDER = fixture("bizbus.sales.sales-order.upserted.v1")


def test_a_placed_order_starts_a_watch_its_erp_sales_order_ends() -> None:
    [started] = watch_steps(PLACED, LIMITS)
    assert (started.rule, started.subject, started.step) == ("order-to-erp", ORDER, "started")
    assert started.due_at == PLACED.data.placed_at + timedelta(seconds=600)
    [done] = watch_steps(SALES_ORDER, LIMITS)
    assert (done.rule, done.subject, done.step) == ("order-to-erp", ORDER, "done")
    assert done.entity_key() == started.entity_key() == f"order-to-erp:{ORDER}"


def test_a_rule_set_to_zero_watches_nothing() -> None:
    off = SlaLimits(0.0, 0.0, False, LIMITS.zone)
    assert watch_steps(PLACED, off) == [] and watch_steps(SALES_ORDER, off) == []


def test_an_invoice_waits_for_its_crm_order_to_show_invoiced() -> None:
    [started] = watch_steps(fixture("bizbus.finance.invoice.posted.v1"), LIMITS)
    assert (started.rule, started.subject, started.step) == ("invoice-to-crm", ORDER, "started")
    shipped = fixture("bizbus.sales.order.status-changed.v1")
    assert watch_steps(shipped, LIMITS) == []  # not the awaited status
    invoiced = fixture("bizbus.sales.order.status-changed.v1", status=OrderStatus.INVOICED.value)
    [done] = watch_steps(invoiced, LIMITS)
    assert (done.rule, done.subject, done.step) == ("invoice-to-crm", ORDER, "done")


def test_an_approved_trip_is_due_when_its_departure_day_begins_locally() -> None:
    [started] = watch_steps(fixture("bizbus.hr.travel.approved.v1"), LIMITS)
    assert (started.rule, started.subject) == ("trip-to-hr", TRIP)
    assert started.due_at == datetime(2025, 4, 20, 16, 0, tzinfo=UTC)  # 21 April, 00:00 +08:00
    [revoked] = watch_steps(fixture("bizbus.hr.travel.revoked.v1"), LIMITS)
    assert revoked.step == "cancelled"
    [recorded] = watch_steps(fixture("bizbus.hr.business-trip.recorded.v1"), LIMITS)
    assert (recorded.subject, recorded.step) == (TRIP, "done")


def test_an_unknown_time_zone_is_refused_by_the_settings() -> None:
    with pytest.raises(ValidationError, match="unknown time zone"):
        RuntimeSettings(sla_timezone="Mars/Olympus")


class Monitor:
    """The SLA flow over dict tables and a clock the test moves; steps pass as they would."""

    def __init__(self) -> None:
        self.clock = Clock(PLACED.data.placed_at.timestamp())
        settings = RuntimeSettings(sla_order_to_erp_s=600, sla_invoice_to_crm_s=1200)
        deps = FlowDeps(FakeConnections(), Xref({}), settings=settings, clock=self.clock)
        self.flow = SlaFlow(deps, {"sla-watches": {}})
        self.watches = self.flow.watches

    async def see(self, event: Envelope[Any]) -> list[Envelope[Any]]:
        """Run `event` through the signal stage and its steps through the watch stage."""
        alerts: list[Envelope[Any]] = []
        for step in emitted(await self.flow.on_event(record_of(event, "biz.any"))):
            alerts += await settle(await self.flow.on_step(record_of(step, "biz.ops.sla-watch")))
        return alerts

    async def sweep_at(self, moment: datetime) -> list[Envelope[Any]]:
        """Sweep at `moment`; run the steps it sends through the watch stage; return alerts."""
        self.clock.now = moment.timestamp()
        alerts: list[Envelope[Any]] = []
        for step in await settle(await self.flow.sweep()):
            alerts += await settle(await self.flow.on_step(record_of(step, "biz.ops.sla-watch")))
        return alerts

    def breaches(self) -> float:
        return self.flow.deps.metrics.gauges["bizbus_sla_breaches"][1]()


async def test_a_late_step_raises_one_alert_and_clears_it_when_it_arrives() -> None:
    monitor = Monitor()
    assert await monitor.see(PLACED) == []
    due = PLACED.data.placed_at + timedelta(seconds=600)
    assert await monitor.sweep_at(due - timedelta(seconds=1)) == []

    [raised] = await monitor.sweep_at(due + timedelta(seconds=5))
    assert isinstance(raised.data, SlaBreachedV1) and raised.data.record == f"CRM order {ORDER}"
    assert raised.data.awaited == "an ERP sales order" and raised.data.due_at == due
    assert (
        raised.correlationid == PLACED.correlationid and raised.subject == f"order-to-erp:{ORDER}"
    )
    assert await monitor.sweep_at(due + timedelta(seconds=60)) == []  # reported once
    assert monitor.breaches() == 1

    late = fixture("bizbus.sales.sales-order.upserted.v1", modified_at=due + timedelta(seconds=90))
    [cleared] = await monitor.see(late)
    assert isinstance(cleared.data, SlaClearedV1) and cleared.data.outcome == "done"
    assert cleared.data.late_by_s == 90
    assert monitor.breaches() == 0


async def test_a_step_in_time_raises_nothing() -> None:
    monitor = Monitor()
    await monitor.see(PLACED)
    assert await monitor.see(SALES_ORDER) == []
    assert await monitor.sweep_at(PLACED.data.placed_at + timedelta(days=1)) == []


async def test_an_end_seen_before_its_start_keeps_the_watch_closed() -> None:
    monitor = Monitor()
    await monitor.see(SALES_ORDER)  # the ERP feed won the race against the CRM order
    await monitor.see(PLACED)
    assert await monitor.sweep_at(PLACED.data.placed_at + timedelta(days=1)) == []


async def test_a_revoked_late_trip_clears_as_cancelled() -> None:
    monitor = Monitor()
    await monitor.see(fixture("bizbus.hr.travel.approved.v1"))
    [raised] = await monitor.sweep_at(datetime(2025, 4, 21, tzinfo=UTC))
    assert isinstance(raised.data, SlaBreachedV1) and raised.data.rule == "trip-to-hr"
    [cleared] = await monitor.see(fixture("bizbus.hr.travel.revoked.v1"))
    assert isinstance(cleared.data, SlaClearedV1) and cleared.data.outcome == "cancelled"


async def test_closed_watches_are_forgotten_after_a_week_and_alert_ids_repeat() -> None:
    monitor = Monitor()
    await monitor.see(SALES_ORDER)
    assert len(monitor.watches) == 1
    await monitor.sweep_at(SALES_ORDER.data.modified_at + timedelta(seconds=CLOSED_KEPT_S + 1))
    assert len(monitor.watches) == 0

    first, second = Monitor(), Monitor()  # the same late watch seen by two sweeps
    for monitor in (first, second):
        await monitor.see(PLACED)
    late = date(2030, 1, 1)
    [a], [b] = [
        await m.sweep_at(datetime.combine(late, datetime.min.time(), UTC)) for m in (first, second)
    ]
    assert a.id == b.id  # one CloudEvent, however often it is published


def test_watch_steps_carry_no_personal_data() -> None:
    fields = set(SlaStepObservedV1.model_fields) | set(SlaBreachedV1.model_fields)
    assert not fields & {"applicant", "employee", "customer_name", "email", "owner"}


async def test_the_sweep_sends_an_overdue_step_once_while_it_is_on_its_way() -> None:
    monitor = Monitor()
    await monitor.see(PLACED)
    late = PLACED.data.placed_at + timedelta(hours=1)
    monitor.clock.now = late.timestamp()
    [step] = await settle(await monitor.flow.sweep())
    assert isinstance(step.data, SlaStepObservedV1) and step.data.step == "overdue"
    assert await settle(await monitor.flow.sweep()) == []  # not handled yet: not sent again
    monitor.clock.now = (late + timedelta(seconds=61)).timestamp()
    assert len(await settle(await monitor.flow.sweep())) == 1  # lost on the way? sent again


async def test_an_overdue_step_behind_the_done_step_raises_nothing() -> None:
    monitor = Monitor()
    await monitor.see(PLACED)
    monitor.clock.now = (PLACED.data.placed_at + timedelta(hours=1)).timestamp()
    [overdue] = await settle(await monitor.flow.sweep())
    assert await monitor.see(SALES_ORDER) == []  # the ERP order came first after all
    assert await settle(await monitor.flow.on_step(record_of(overdue, "biz.ops.sla-watch"))) == []
