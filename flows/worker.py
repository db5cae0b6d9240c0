"""Assemble a worker: the faust App, the flow context, every enabled flow and the poller.

Flows are modules with `register(ctx)`; `BIZBUS_FLOWS` picks which run (default: all), and
`BIZBUS_STAGES` which of their stages (agents, `poll`) this worker runs (default: all).
"""

import importlib

import faust

from bizbus.connectors.errors import ConfigError
from bizbus.flows.app import create_app
from bizbus.flows.context import FlowContext
from bizbus.flows.runtime.faust_glue import app_topic_plans
from bizbus.flows.runtime.readiness import FeedProgress, Readiness
from bizbus.flows.runtime.topics_admin import TopicPlan, catalog_plans, merge_plans
from bizbus.flows.settings import RuntimeSettings

FLOW_MODULES = {
    "travel": "bizbus.flows.travel",
    "customers": "bizbus.flows.customers",
    "orders": "bizbus.flows.orders",
    "fulfilment": "bizbus.flows.fulfilment",
    "catalog": "bizbus.flows.catalog",
}
# Agents several flows rely on, registered once when any flow that needs them runs.
SHARED_MODULES = {"bizbus.flows.order_updates": ("orders", "fulfilment")}


def enabled_flows(settings: RuntimeSettings) -> list[str]:
    """Return the flow names to run, refusing unknown ones with a clear message."""
    names = [name.strip() for name in settings.flows.split(",") if name.strip()]
    unknown = [name for name in names if name not in FLOW_MODULES]
    if unknown:
        raise ConfigError(
            f"BIZBUS_FLOWS names unknown flow(s) {unknown}: choose from {sorted(FLOW_MODULES)}"
        )
    return names


def check_stages(ctx: FlowContext) -> None:
    """Refuse BIZBUS_STAGES names that no enabled flow declares, listing the known ones."""
    unknown = sorted((ctx.settings.selected_stages() or frozenset()) - ctx.declared_stages)
    if unknown:
        raise ConfigError(
            f"BIZBUS_STAGES names unknown stage(s) {unknown}: the flows this worker runs "
            f"(BIZBUS_FLOWS) have {sorted(ctx.declared_stages)}"
        )


def build_worker(settings: RuntimeSettings | None = None) -> tuple[faust.App, FlowContext]:
    """Return the App with every enabled flow's agents declared, and its context."""
    settings = settings or RuntimeSettings()
    app = create_app(settings)
    ctx = FlowContext(app, settings)
    names = enabled_flows(settings)
    for module, users in SHARED_MODULES.items():
        if set(users) & set(names):
            importlib.import_module(module).register(ctx)
    for name in names:
        importlib.import_module(FLOW_MODULES[name]).register(ctx)
    ctx.poller.register()
    check_stages(ctx)
    poller = ctx.poller
    feeds = (
        FeedProgress(poller.ticks_topic(), lambda: poller.feeds, lambda: poller.passes)
        if poller.feeds and ctx.runs("poll")
        else None
    )
    Readiness(app, feeds).register()
    return app, ctx


def worker_topics(app: faust.App, settings: RuntimeSettings) -> list[TopicPlan]:
    """Return every topic the worker reads, writes or keeps state in (create before starting)."""
    return merge_plans(catalog_plans(settings.topic_prefix), app_topic_plans(app))
