"""The worker's Prometheus metrics, served at `/metrics` on its web port.

The hot path only adds to plain integers the stages already keep (`GuardStats`, one per stage);
a collector turns them into metric families when Prometheus scrapes, with the gates' states,
the poller's passes, the holds, the stages' backlogs and any gauge a flow registers. Consumer
lag (high-water mark minus fetch position, per group and partition) is read at each scrape.
API calls and their latency are prometheus-client children bound once per system and operation.
No label carries a record's data: flows, stages, systems, operations and error classes only.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from bizbus.connectors.httpbase import CallObserver
from bizbus.flows.runtime.gates import Gates, SystemState
from bizbus.flows.runtime.guard import GuardStats

__all__ = [
    "CONTENT_TYPE",
    "METRICS_PATH",
    "FlowMetrics",
    "Metrics",
    "StageEntry",
    "worker_families",
]

log = logging.getLogger("bizbus.metrics")
# `*_created` series (a timestamp per counter child) double the exposition for nothing here.
disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped in prometheus-client
METRICS_PATH = "/metrics"
# The classic text format, which every Prometheus reads (names are underscore-escaped, so the
# body is that format); aiohttp adds the charset itself and refuses one here.
CONTENT_TYPE = "text/plain; version=0.0.4"
LAG_TIMEOUT_S = 2.0
# Seconds: a sandbox answers in ms, a SaaS API in 100s of ms, a stuck one in the 10 s timeout.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass(frozen=True, slots=True)
class StageEntry:
    """One running stage: its flow, how it runs, its counters and (faust stages) its backlog."""

    flow: str
    stage: str
    kind: str  # "faust", "batch" or "poll"
    stats: GuardStats
    backlog: Callable[[], int] | None = None


class FlowMetrics:
    """What flows count themselves: echoes they dropped, conflicts they found, their gauges.

    A flow built outside a worker (tests, tools) gets one of its own, registered nowhere.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self._echoes = Counter(
            "bizbus_echoes_suppressed",
            "Changes dropped because they were our own writes coming back.",
            ["flow", "system"],
            registry=self.registry,
        )
        self._conflicts = Counter(
            "bizbus_conflicts",
            "Edits of a field by a system that does not own it.",
            ["flow", "system"],
            registry=self.registry,
        )
        self.gauges: dict[str, tuple[str, Callable[[], float]]] = {}
        self._drift = Gauge(
            "bizbus_reconcile_drift",
            "Records the last reconciliation found different in the two systems, per kind.",
            ["kind"],
            registry=self.registry,
        )
        self._checked = Gauge(
            "bizbus_reconcile_checked",
            "Records the last reconciliation compared, per kind.",
            ["kind"],
            registry=self.registry,
        )
        self._reconciled_at = Gauge(
            "bizbus_reconcile_last_run_timestamp_seconds",
            "When each kind was last reconciled (a kind that failed keeps its previous time).",
            ["kind"],
            registry=self.registry,
        )

    def reconciled(self, kind: str, *, checked: int, drift: int, at: float) -> None:
        """Export what the reconciliation of `kind` found at `at` (seconds since the epoch)."""
        self._drift.labels(kind).set(drift)
        self._checked.labels(kind).set(checked)
        self._reconciled_at.labels(kind).set(at)

    def echoes(self, flow: str, system: str, count: int = 1) -> None:
        """Count `count` echoes of our own writes dropped by `flow` from `system`."""
        if count:
            self._echoes.labels(flow, system).inc(count)

    def conflicts(self, flow: str, system: str, count: int = 1) -> None:
        """Count `count` edits `flow` saw in `system` of fields another system owns."""
        if count:
            self._conflicts.labels(flow, system).inc(count)

    def gauge(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        """Export `read()` (this worker's share, e.g. parked orders) as gauge `name` at scrapes."""
        self.gauges[name] = (documentation, read)


class Metrics(FlowMetrics):
    """Every metric of one worker, in its own registry (`render()` is the `/metrics` body)."""

    def __init__(self) -> None:
        super().__init__(CollectorRegistry(auto_describe=True))
        self.stages: list[StageEntry] = []
        self.gates: Gates | None = None
        self.lag_sources: list[tuple[str, Callable[[], Any], Callable[[str], bool]]] = []
        self.extra: list[Callable[[], Iterable[Metric]]] = []
        self.lag: dict[tuple[str, str, int], int] = {}
        self._calls = Counter(
            "bizbus_api_calls",
            "Exchanges with a system's API (every try, as its allowance counts them).",
            ["system", "operation", "outcome"],
            registry=self.registry,
        )
        self._latency = Histogram(
            "bizbus_api_call_seconds",
            "Duration of one exchange with a system's API.",
            ["system", "operation"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_Collected(self))

    def stage(
        self,
        flow: str,
        stage: str,
        kind: str,
        stats: GuardStats,
        backlog: Callable[[], int] | None = None,
    ) -> GuardStats:
        """Export the counters of a stage; return them (the stage adds to them)."""
        self.stages.append(StageEntry(flow, stage, kind, stats, backlog))
        return stats

    def observer(self, system: str) -> CallObserver:
        """Return the observer of one system's connector: counts and times every exchange."""
        calls: dict[tuple[str, str], Any] = {}
        latency: dict[str, Any] = {}

        def observe(operation: str, seconds: float, outcome: str) -> None:
            counter = calls.get((operation, outcome))
            if counter is None:
                counter = calls[operation, outcome] = self._calls.labels(system, operation, outcome)
            timer = latency.get(operation)
            if timer is None:
                timer = latency[operation] = self._latency.labels(system, operation)
            counter.inc()
            timer.observe(seconds)

        return observe

    def lag_of(
        self, group: str, consumer: Callable[[], Any], wanted: Callable[[str], bool]
    ) -> None:
        """Read the lag of `consumer()` (faust's or aiokafka's) at scrapes, of topics `wanted`."""
        self.lag_sources.append((group, consumer, wanted))

    async def refresh(self) -> None:
        """Read the consumers' lag now (bounded: a scrape never hangs on a rebalance)."""
        lag: dict[tuple[str, str, int], int] = {}
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(LAG_TIMEOUT_S):
                for group, consumer, wanted in self.lag_sources:
                    await _read_lag(group, consumer, wanted, lag)
        self.lag = lag

    async def render(self) -> bytes:
        """Return the metrics in Prometheus' text format, lag read fresh."""
        await self.refresh()
        return generate_latest(self.registry)


async def _read_lag(
    group: str,
    started: Callable[[], Any],
    wanted: Callable[[str], bool],
    into: dict[tuple[str, str, int], int],
) -> None:
    try:
        consumer = started()
        assigned = [tp for tp in consumer.assignment() if wanted(tp.topic)]
        for tp in assigned:
            end = consumer.highwater(tp)
            position = await consumer.position(tp)
            if end is not None and position is not None:
                into[group, tp.topic, tp.partition] = max(0, int(end) - int(position))
    except asyncio.CancelledError:
        raise
    except Exception as error:  # noqa: BLE001 - not started, or mid-rebalance: no lag this time
        log.debug("no lag of group %s this scrape (%s)", group, type(error).__name__)


class _Collected(Collector):
    """Families built at scrape time from the counters the runtime keeps anyway."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        m = self.metrics
        yield from _stage_families(m.stages)
        if m.gates is not None:
            states = GaugeMetricFamily(
                "bizbus_system_state",
                "1 for the state each system is in: up, down (paused) or rejected (credentials).",
                labels=["system", "state"],
            )
            for system, current in m.gates.states().items():
                for state in SystemState:
                    states.add_metric([system, state.value], float(state.value == current))
            yield states
        lag = GaugeMetricFamily(
            "bizbus_consumer_lag",
            "Records in a partition not yet fetched by this worker (high-water mark - position).",
            labels=["group", "topic", "partition"],
        )
        for (group, topic, partition), value in sorted(m.lag.items()):
            lag.add_metric([group, topic, str(partition)], float(value))
        yield lag
        for name, (documentation, read) in sorted(m.gauges.items()):
            yield GaugeMetricFamily(name, documentation, value=float(read()))
        for extra in m.extra:
            yield from extra()


def _stage_families(stages: list[StageEntry]) -> Iterator[Metric]:
    labels = ["flow", "stage"]

    def family(name: str, documentation: str) -> CounterMetricFamily:
        return CounterMetricFamily(name, documentation, labels=labels)

    taken = family("bizbus_stage_events_in", "Records a stage took.")
    emitted = family("bizbus_stage_events_out", "Events a stage published.")
    done = family("bizbus_stage_events_done", "Records a stage finished (outputs delivered).")
    retried = family("bizbus_stage_events_retried", "Tries a stage repeated (outage, Kafka).")
    dead = family("bizbus_stage_events_dead_lettered", "Records a stage dead-lettered.")
    held = family("bizbus_stage_events_held", "Records sent after their key's dead letter.")
    failed = CounterMetricFamily(
        "bizbus_stage_events_failed",
        "Handler failures (each try), by error class.",
        labels=[*labels, "error"],
    )
    backlog = GaugeMetricFamily(
        "bizbus_stage_backlog", "Records a stage holds, taken and unfinished.", labels=labels
    )
    for entry in stages:
        at = [entry.flow, entry.stage]
        stats = entry.stats
        taken.add_metric(at, stats.taken)
        emitted.add_metric(at, stats.emitted)
        done.add_metric(at, stats.done)
        retried.add_metric(at, stats.waits + stats.kafka_retries)
        dead.add_metric(at, stats.dead_lettered)
        held.add_metric(at, stats.held)
        for error, count in sorted(stats.by_error.items()):
            failed.add_metric([*at, error], count)
        if entry.backlog is not None:
            backlog.add_metric(at, entry.backlog())
    yield from (taken, emitted, done, retried, dead, held, failed, backlog)


def worker_families(
    *,
    passes: Callable[[], Mapping[str, int]],
    polled: Callable[[], int],
    holds: Callable[[], int],
    ready: Callable[[], bool],
    budgets: Callable[[], Mapping[str, tuple[int, int | None]]] = dict,
) -> Callable[[], Iterator[Metric]]:
    """Return the families of a worker's poller, holds and readiness, read at each scrape.

    `budgets` gives, per system whose polls this worker keeps the ledger of, the API calls
    spent in the last 24 h and the daily budget (None: unlimited).
    """

    def families() -> Iterator[Metric]:
        counted = CounterMetricFamily(
            "bizbus_poll_passes", "Polls of a change feed finished (or failed).", labels=["feed"]
        )
        for feed, count in sorted(passes().items()):
            counted.add_metric([feed], count)
        yield counted
        yield CounterMetricFamily(
            "bizbus_polled_records", "Changed records the feeds published.", value=polled()
        )
        yield GaugeMetricFamily(
            "bizbus_dead_letter_holds",
            "Keys held behind a dead letter (every stage; all workers share the holds).",
            value=holds(),
        )
        yield GaugeMetricFamily("bizbus_worker_ready", "1 when /readyz answers 200.", value=ready())
        spent = GaugeMetricFamily(
            "bizbus_api_calls_24h",
            "API calls to a system in the last 24 h, all workers (the poll owner's ledger).",
            labels=["system"],
        )
        budget = GaugeMetricFamily(
            "bizbus_api_daily_budget", "A system's daily API budget (absent: unlimited).",
            labels=["system"],
        )  # fmt: skip
        for system, (calls, limit) in sorted(budgets().items()):
            spent.add_metric([system], calls)
            if limit is not None:
                budget.add_metric([system], limit)
        yield from (spent, budget)

    return families
