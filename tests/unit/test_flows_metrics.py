"""The worker's metrics: stage counters, API calls, system states, flows' own counts, exposition."""

import asyncio
from datetime import UTC, datetime

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bizbus.connectors import HttpConnector, RetryPolicy
from bizbus.connectors.errors import AuthError, MappingError, TransientError
from bizbus.connectors.feishu import FeishuConnector
from bizbus.connectors.salesforce import SalesforceConnector
from bizbus.flows.runtime.batch_stage import batch_handler
from bizbus.flows.runtime.gates import Gates, GateTiming
from bizbus.flows.runtime.guard import GuardStats, StageGuard
from bizbus.flows.runtime.holds import hold_key
from bizbus.flows.runtime.metrics import FlowMetrics, Metrics
from bizbus.flows.runtime.record import RawRecord
from bizbus.flows.runtime.services import RuntimeServices
from bizbus.flows.runtime.spec import Emit, Output, StageSpec
from bizbus.schemas import ProductModelChangedV1, make_event
from tests.unit.test_flows_guard import RECORD, FakeHolds

FAST = GateTiming(first_s=0.001, max_s=0.002, rejected_s=0.003)


async def samples(metrics: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a scrape by (name, labels)."""
    text = (await metrics.render()).decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def at(**labels: str) -> frozenset[tuple[str, str]]:
    return frozenset(labels.items())


async def no_probe() -> None:
    """A system that answers."""


async def test_a_guarded_stage_exports_in_done_failed_retried_and_dead_lettered() -> None:
    metrics = Metrics()
    gates = Gates(lambda _role: no_probe, timing=FAST)
    dead: list[object] = []

    async def dead_letter(*sent: object) -> None:
        dead.append(sent)

    guard = StageGuard(
        "erp-sales-orders", systems=frozenset({"erp"}), gates=gates, holds=FakeHolds(),
        dead_letter=dead_letter, attempts_while_up=3, flow="orders",
    )  # fmt: skip
    metrics.stage("orders", "erp-sales-orders", "faust", guard.stats, lambda: 7)
    failures: list[Exception] = [TransientError("503", system="odoo"), MappingError("no product")]

    async def handle(record: RawRecord) -> None:
        if failures:
            raise failures.pop(0)

    try:
        await asyncio.wait_for(guard.run(handle, RECORD), 5)  # 503, then a mapping error
        await asyncio.wait_for(guard.run(handle, RECORD), 5)  # held behind its dead letter
    finally:
        await gates.close()
    got = await samples(metrics)
    stage = at(flow="orders", stage="erp-sales-orders")
    assert got["bizbus_stage_events_in_total", stage] == 2
    assert got["bizbus_stage_events_retried_total", stage] == 1
    assert got["bizbus_stage_events_dead_lettered_total", stage] == 2
    assert got["bizbus_stage_events_held_total", stage] == 1
    assert got["bizbus_stage_events_done_total", stage] == 0
    failed = "bizbus_stage_events_failed_total"
    assert got[failed, at(flow="orders", stage="erp-sales-orders", error="TransientError")] == 1
    assert got[failed, at(flow="orders", stage="erp-sales-orders", error="MappingError")] == 1
    assert got["bizbus_stage_backlog", stage] == 7


def model_event() -> Emit:
    model = ProductModelChangedV1(
        model_code="HL-BS-40", erp_product_id=7, name="HL-BS-40 数控车床", revision="A",
        uom="台", changed_at=datetime.now(UTC),
    )  # fmt: skip
    return Emit(make_event(model, source="bizbus://tests", correlationid="HL-BS-40", origin="erp"))


async def test_a_pure_stage_counts_outputs_dead_letters_and_held_records() -> None:
    stats = {"copy": GuardStats()}
    holds = FakeHolds()

    async def copy(record: RawRecord) -> list[Output]:
        if record.value == b"bad":
            raise ValueError("the record's text, 张三")
        return [model_event(), model_event()]

    stage = StageSpec("copy", "biz.sales.account", copy, pure=True)
    handle = batch_handler(
        [stage], topic_name=str, holds=holds, stats=stats, flows={"copy": "customers"}
    )
    good = RawRecord("biz.sales.account", 0, 1, b"k1", b"good")
    bad = RawRecord("biz.sales.account", 0, 2, b"k2", b"bad")
    later = RawRecord("biz.sales.account", 0, 3, b"k2", b"good")
    assert len(await handle(good)) == 2
    assert len(await handle(bad)) == 1  # the dead letter
    assert len(await handle(later)) == 1  # held behind it
    counts = stats["copy"]
    assert (counts.taken, counts.emitted, counts.done) == (3, 2, 1)
    assert (counts.dead_lettered, counts.held, counts.by_error) == (2, 1, {"ValueError": 1})
    assert holds.counts[hold_key("copy", b"k2")] == 2


async def test_every_exchange_with_a_system_is_counted_and_timed_by_operation() -> None:
    metrics = Metrics()
    answers = iter([httpx.Response(503), httpx.Response(200, json={}), httpx.Response(404)])

    async def answer(request: httpx.Request) -> httpx.Response:
        return next(answers)

    async def no_wait(_: float) -> None:
        """Retries without waiting."""

    connector = HttpConnector(
        "http://erp.test", transport=httpx.MockTransport(answer), observer=metrics.observer("erp"),
        retry=RetryPolicy(attempts=3), sleep=no_wait,
    )  # fmt: skip
    async with connector:
        await connector.request("GET", "/ping", operation="res.users.search")
        try:
            await connector.request("GET", "/gone")
        except Exception as error:  # noqa: BLE001 - a 404 is refused; only its count matters
            assert type(error).__name__ == "RejectedError"
    got = await samples(metrics)
    calls = "bizbus_api_calls_total"
    assert got[calls, at(system="erp", operation="res.users.search", outcome="5xx")] == 1
    assert got[calls, at(system="erp", operation="res.users.search", outcome="2xx")] == 1
    assert got[calls, at(system="erp", operation="GET", outcome="4xx")] == 1
    timed = "bizbus_api_call_seconds_count"
    assert got[timed, at(system="erp", operation="res.users.search")] == 2


def test_operation_names_leave_ids_and_values_out() -> None:
    crm = SalesforceConnector.__new__(SalesforceConnector)
    oa = FeishuConnector.__new__(FeishuConnector)
    key_url = "/services/data/v60.0/sobjects/Order/ErpOrderRef__c/SO%2F2026%2F00042"
    assert crm.operation_of("PATCH", key_url) == "PATCH Order/ErpOrderRef__c"
    assert crm.operation_of("GET", "/services/data/v60.0/query?q=SELECT+Id") == "GET query"
    assert crm.operation_of("GET", "/services/data/v60.0/sobjects/User/005A0000001") == ("GET User")
    detail = "/open-apis/approval/v4/instances/81D31358-93AF-92D6-7425-01A5D67C4E71"
    assert oa.operation_of("GET", detail) == "GET /open-apis/approval/v4/instances/{id}"
    assert oa.operation_of("GET", "/open-apis/approval/v4/instances") == (
        "GET /open-apis/approval/v4/instances"
    )


async def test_each_system_shows_its_state_and_rejected_credentials_unready_the_worker() -> None:
    metrics = Metrics()
    gates = Gates(lambda _role: no_probe, timing=GateTiming(first_s=60, rejected_s=60))
    metrics.gates = gates
    gates["crm"]  # a system a stage needs shows before its first call
    services = RuntimeServices(holds=None, batch=None, gates=gates)  # type: ignore[arg-type]
    try:
        assert services.refused() == []
        gates["erp"].failed(AuthError("odoo: key refused", system="odoo"))
        got = await samples(metrics)
        assert got["bizbus_system_state", at(system="erp", state="rejected")] == 1
        assert got["bizbus_system_state", at(system="erp", state="up")] == 0
        assert got["bizbus_system_state", at(system="crm", state="up")] == 1
        assert services.refused() == ["erp to accept our credentials"]
        gates["erp"].succeeded()
        assert services.refused() == []
    finally:
        await gates.close()


async def test_flows_count_echoes_conflicts_and_export_their_gauges() -> None:
    metrics = Metrics()
    parked: dict[str, object] = {"801": {}, "802": {}}
    metrics.echoes("catalog", "crm", 2)
    metrics.echoes("catalog", "crm", 0)
    metrics.conflicts("catalog", "erp")
    metrics.gauge("bizbus_parked_orders", "Parked orders.", lambda: len(parked))
    got = await samples(metrics)
    assert got["bizbus_echoes_suppressed_total", at(flow="catalog", system="crm")] == 2
    assert got["bizbus_conflicts_total", at(flow="catalog", system="erp")] == 1
    assert got["bizbus_parked_orders", at()] == 2
    FlowMetrics().echoes("catalog", "crm")  # a flow outside a worker counts into its own


async def test_consumer_lag_is_the_high_water_mark_minus_the_position_of_wanted_topics() -> None:
    class Tp:
        def __init__(self, topic: str, partition: int) -> None:
            self.topic, self.partition = topic, partition

    class FakeConsumer:
        tps = (Tp("src.crm.order", 0), Tp("src.crm.order", 1), Tp("bizbus-changelog", 0))

        def assignment(self) -> set[Tp]:
            return set(self.tps)

        def highwater(self, tp: Tp) -> int | None:
            return {0: 120, 1: None}.get(tp.partition, 5)

        async def position(self, tp: Tp) -> int:
            return 100

    metrics = Metrics()
    metrics.lag_of("bizbus", FakeConsumer, lambda topic: topic.startswith("src."))
    metrics.lag_of("bizbus-batch", lambda: (_ for _ in ()).throw(RuntimeError("not started")), bool)
    got = await samples(metrics)
    lags = {labels: value for (name, labels), value in got.items() if name == "bizbus_consumer_lag"}
    assert lags == {at(group="bizbus", topic="src.crm.order", partition="0"): 20}
