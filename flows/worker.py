"""Assemble a worker: the faust App, the runtime, every enabled flow object and the poller.

`BIZBUS_FLOWS` picks which flows run (default: all); each is built from the shared FlowDeps and
its own tables, and its declaration goes to the runtime, which alone speaks faust.
"""

from collections.abc import Iterable
from typing import Protocol, runtime_checkable

import faust

from bizbus.connectors.errors import ConfigError
from bizbus.flows.app import create_app
from bizbus.flows.catalog import CatalogFlow
from bizbus.flows.connections import Connections
from bizbus.flows.context import FlowDeps
from bizbus.flows.customers import CustomersFlow
from bizbus.flows.fulfilment import FulfilmentFlow
from bizbus.flows.leads import LeadsFlow
from bizbus.flows.order_updates import OrderUpdatesFlow
from bizbus.flows.orders import OrdersFlow
from bizbus.flows.personal import load_key_ring
from bizbus.flows.runtime.access import TopicUse
from bizbus.flows.runtime.dlq_history import history_plans
from bizbus.flows.runtime.faust_adapter import FaustRuntime
from bizbus.flows.runtime.faust_glue import app_topic_plans
from bizbus.flows.runtime.kafka_config import KafkaConnection, kafka_connection
from bizbus.flows.runtime.metrics import Metrics
from bizbus.flows.runtime.reconcile import KINDS, Reconciler, scheduled
from bizbus.flows.runtime.seen import RETENTION_S, seen_topic
from bizbus.flows.runtime.services import holds_topic
from bizbus.flows.runtime.spec import Declaration, Flow, Tables, TableSpec, TimerSpec, fresh_tables
from bizbus.flows.runtime.topics_admin import TopicPlan, catalog_plans, merge_plans
from bizbus.flows.runtime.trace_index import index_plan
from bizbus.flows.runtime.web import WebSurface
from bizbus.flows.settings import RuntimeSettings
from bizbus.flows.shared import crm_push, erp_hints, oa_stream
from bizbus.flows.sla import SlaFlow
from bizbus.flows.stock_visibility import StockVisibilityFlow
from bizbus.flows.travel import TravelFlow
from bizbus.flows.xref import XREF_TABLE, Xref
from bizbus.schemas import TOPICS, KeyRing, dlq_for


class FlowClass(Protocol):
    """A flow's class: its tables, and a constructor taking the deps and those tables."""

    TABLES: tuple[TableSpec, ...]

    def __call__(self, deps: FlowDeps, tables: Tables, /) -> Flow:
        """Build the flow."""
        ...


@runtime_checkable
class Reconciles(Protocol):
    """A flow that can compare what it syncs in both systems (`bizbus reconcile`)."""

    def reconcilers(self) -> tuple[Reconciler, ...]:
        """Return its reconcilers."""
        ...


FLOWS: dict[str, FlowClass] = {
    "travel": TravelFlow,
    "customers": CustomersFlow,
    "orders": OrdersFlow,
    "fulfilment": FulfilmentFlow,
    "catalog": CatalogFlow,
    "leads": LeadsFlow,
    "sla": SlaFlow,
    "stock": StockVisibilityFlow,
}
# Flows several flows rely on, run once when any flow that needs them runs.
SHARED: dict[str, tuple[FlowClass, tuple[str, ...]]] = {
    "order_updates": (OrderUpdatesFlow, ("orders", "fulfilment"))
}


def enabled_flows(settings: RuntimeSettings) -> list[str]:
    """Return the flow names to run, refusing unknown ones with a clear message."""
    names = [name.strip() for name in settings.flows.split(",") if name.strip()]
    unknown = [name for name in names if name not in FLOWS]
    if unknown:
        raise ConfigError(
            f"BIZBUS_FLOWS names unknown flow(s) {unknown}: choose from {sorted(FLOWS)}"
        )
    return names


def build_worker(
    settings: RuntimeSettings | None = None,
    kafka: KafkaConnection | None = None,
    *,
    keys: KeyRing | None = None,
) -> tuple[faust.App, FaustRuntime]:
    """Return the App with every enabled flow declared on it, and the runtime running them.

    `keys` seal and open personal data on Kafka; read from `BIZBUS_PII_*` when not given.

    Raises:
        ConfigError: A bad setting (no personal-data key among them).
    """
    settings = settings or RuntimeSettings()
    kafka = kafka or kafka_connection(settings.kafka_bootstrap)
    keys = keys or load_key_ring()
    web = WebSurface(settings)
    app = create_app(settings, kafka, web)
    metrics = Metrics()
    connections = Connections(observer=metrics.observer)
    runtime = FaustRuntime(
        app, settings, connections, kafka, web=web, keys=keys, metrics=metrics,
        pushes=[crm_push(connections), oa_stream(connections)], hints=[erp_hints(connections)],
    )  # fmt: skip
    xref = Xref(runtime.open_tables([XREF_TABLE])[XREF_TABLE.name])
    deps = FlowDeps(
        connections=connections, xref=xref, settings=settings, seen=runtime.seen, keys=keys,
        metrics=runtime.metrics,
    )  # fmt: skip
    names = enabled_flows(settings)
    chosen = [(name, flow) for name, (flow, users) in SHARED.items() if set(users) & set(names)]
    built = [
        (name, flow(deps, runtime.open_tables(flow.TABLES)))
        for name, flow in [*chosen, *((name, FLOWS[name]) for name in names)]
    ]
    for name, built_flow in built:
        runtime.install(built_flow.declare(), flow=name)
    offered = offered_reconcilers(built_flow for _, built_flow in built)
    if offered and settings.reconcile_interval_s > 0:
        run = scheduled(offered, heal=settings.reconcile_heal, metrics=runtime.metrics)
        timer = TimerSpec("reconcile", settings.reconcile_interval_s, run, on_leader=True)
        runtime.install(Declaration(timers=(timer,)), flow="reconcile")
    runtime.start()
    return app, runtime


def offered_reconcilers(flows: Iterable[Flow]) -> list[Reconciler]:
    """Return the reconcilers the flows offer, in `KINDS` order."""
    found = [r for flow in flows if isinstance(flow, Reconciles) for r in flow.reconcilers()]
    return sorted(found, key=lambda reconciler: KINDS.index(reconciler.kind))


def reconcilers_of(settings: RuntimeSettings, connections: Connections) -> list[Reconciler]:
    """Return the reconcilers of the enabled flows, built outside a worker (the CLI's).

    Flows are built on empty tables: a reconciler reads the systems, never bizbus's state.
    """
    deps = FlowDeps(connections=connections, xref=Xref({}), settings=settings)
    classes = [FLOWS[name] for name in enabled_flows(settings)]
    return offered_reconcilers(
        flow(deps, fresh_tables(*flow.TABLES))
        for flow in classes
        if callable(getattr(flow, "reconcilers", None))
    )


def worker_topics(app: faust.App, settings: RuntimeSettings) -> list[TopicPlan]:
    """Return every topic the worker reads, writes or keeps state in (create before starting)."""
    holds = TopicPlan(holds_topic(settings), 1, {"cleanup.policy": "compact"})
    retention = {"cleanup.policy": "compact,delete", "retention.ms": str(RETENTION_S * 1000)}
    seen = TopicPlan(seen_topic(settings), 1, retention)
    return merge_plans(
        catalog_plans(settings.topic_prefix),
        app_topic_plans(app),
        [
            holds,
            seen,
            *history_plans(settings),
            *([index_plan(settings)] if settings.trace_index else []),
        ],
    )


def worker_topic_use(app: faust.App, runtime: FaustRuntime, settings: RuntimeSettings) -> TopicUse:
    """Return which topics and groups a built worker reads, writes and creates (for its ACLs).

    Its own topics (tables' changelogs, poll ticks, the assignor's and the holds topic) are
    read and written; catalog topics are read where a running stage consumes them and written
    where a flow declares it publishes, with the dead letters of every input.
    """
    prefix = settings.topic_prefix
    catalog = {prefix + name for name in TOPICS}
    prepared = {plan.name for plan in worker_topics(app, settings)}
    own = prepared - catalog
    emitted = {prefix + name for name in runtime.emits}
    groups = {app.conf.id} | ({f"{app.conf.id}-batch"} if runtime.pure else set())
    return TopicUse(
        reads=frozenset(runtime.inputs | own),
        writes=frozenset(emitted | {dlq_for(name) for name in runtime.inputs} | own),
        prepares=frozenset(prepared),
        groups=frozenset(groups),
        replayable=frozenset(
            runtime.inputs
            | {holds_topic(settings)}
            | {plan.name for plan in history_plans(settings)}
        ),
    )
