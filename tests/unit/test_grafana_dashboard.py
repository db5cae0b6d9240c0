"""deploy/grafana/bizbus.json queries only metrics a worker exports, with their real labels."""

import json
import re
from pathlib import Path
from typing import Any

from aiokafka import TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from bizbus.connectors.errors import RejectedError
from bizbus.flows.context import FlowDeps
from bizbus.flows.runtime.gates import Gates
from bizbus.flows.runtime.guard import GuardStats
from bizbus.flows.runtime.metrics import Metrics, worker_families
from bizbus.flows.sla import SlaFlow
from bizbus.flows.xref import Xref
from tests.unit.test_flows_fakes import FakeConnections

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "bizbus.json"
_METRIC = re.compile(r"\bbizbus_[a-z0-9_]+\b")
_BY = re.compile(r"\bby \(([^)]*)\)")


async def _no_probe() -> None:
    """A system that answers."""


class _Consumer:
    """A consumer assigned one partition, 2 records behind."""

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition("biz.sales.order", 0)]

    def highwater(self, _tp: TopicPartition) -> int:
        return 5

    async def position(self, _tp: TopicPartition) -> int:
        return 3


async def exported() -> dict[str, set[str]]:
    """Return every sample name a worker with one of everything exports, with its labels."""
    metrics = Metrics()
    stats = GuardStats()
    stats.count(RejectedError("refused"))
    metrics.stage("orders", "erp-sales-orders", "faust", stats, lambda: 0)
    metrics.gates = Gates(lambda _role: _no_probe)
    metrics.gates["erp"]
    metrics.lag_of("bizbus", _Consumer, lambda _topic: True)
    metrics.observer("erp")("sale.order.create", 0.01, "2xx")
    flow_deps = FlowDeps(FakeConnections(), Xref({}), metrics=metrics)
    SlaFlow(flow_deps, {"sla-watches": {}})  # flows export their own gauges
    metrics.echoes("catalog", "crm")
    metrics.conflicts("catalog", "erp")
    metrics.reconciled("prices", checked=7, drift=1, at=0.0)
    metrics.extra.append(
        worker_families(
            passes=lambda: {"crm.Order": 1}, polled=lambda: 1, holds=lambda: 0,
            ready=lambda: True, budgets=lambda: {"crm": (10, 1000)},
        )
    )  # fmt: skip
    try:
        text = (await metrics.render()).decode()
    finally:
        await metrics.gates.close()
    names: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            names.setdefault(sample.name, set()).update(sample.labels)
    return names


def expressions() -> list[str]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


async def test_every_queried_metric_is_one_the_worker_exports() -> None:
    names = await exported()
    queried = {name for expr in expressions() for name in _METRIC.findall(expr)}
    assert queried, "the dashboard queries nothing"
    assert queried <= set(names), f"not exported: {sorted(queried - set(names))}"


async def test_every_grouping_label_is_one_the_metrics_carry() -> None:
    names = await exported()
    for expr in expressions():
        labels = set(names.get(_METRIC.findall(expr)[0], set())) | {"le"}
        for group in _BY.findall(expr):
            wanted = {label.strip() for label in group.split(",")}
            assert wanted <= labels, f"{expr}: no label {sorted(wanted - labels)}"


def test_the_dashboard_covers_throughput_lag_dead_letters_states_and_budget() -> None:
    text = " ".join(expressions())
    for metric in ("bizbus_stage_events_done_total", "bizbus_consumer_lag",
                   "bizbus_stage_events_dead_lettered_total", "bizbus_system_state",
                   "bizbus_api_daily_budget"):  # fmt: skip
        assert metric in text
