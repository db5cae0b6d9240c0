"""Start-up pieces without a broker: the worker's topic plan, missing-topic and readiness checks."""

from dataclasses import dataclass

from bizbus.flows.runtime.assignor import missing_topics
from bizbus.flows.runtime.readiness import ReadyState
from bizbus.flows.runtime.topics_admin import TopicPlan, _not_ready, catalog_plans, merge_plans
from bizbus.flows.settings import RuntimeSettings
from bizbus.flows.worker import build_worker, worker_topics
from bizbus.schemas import TOPICS, KeyRing


def _plans() -> dict[str, TopicPlan]:
    settings = RuntimeSettings(app_id="acme", topic_prefix="prod.")
    app, _ = build_worker(settings, keys=KeyRing.generate())
    return {plan.name: plan for plan in worker_topics(app, settings)}


def test_worker_plan_holds_the_catalog_changelogs_ticks_and_the_assignor_topic() -> None:
    plans = _plans()
    assert {"prod." + name for name in TOPICS} <= set(plans)
    internal = sorted(set(plans) - {"prod." + name for name in TOPICS})
    assert internal == sorted(
        [
            "prod.acme-poll-ticks",
            "prod.acme-dead-letter-holds",
            "prod.acme-dead-letter-replays",
            "prod.acme-dead-letter-quarantine",
            "prod.acme-trace-index",
            "prod.acme-webhook-seen",
            "acme-__assignor-__leader",
            *(
                f"acme-{table}-changelog"
                for table in (
                    "xref", "crm-leads-published", "crm-order-status", "travel-decisions",
                    "crm-orders-placed", "crm-orders-sent",
                    "parked-sales-orders", "discount-approvals", "discount-decisions",
                    "conflict-decisions",
                    "catalog-state", "catalog-write-log",
                    "catalog-echoes-seen", "sla-watches", "poll-cursors", "stock-levels",
                    "stock-crm-applied",
                )
            ),
        ]
    )  # fmt: skip


SLA_SIGNALS = ("order", "sales-order", "invoice", "travel", "business-trip")


def test_agents_and_pages_keep_their_names_and_paths() -> None:
    app, runtime = build_worker(RuntimeSettings(app_id="acme"), keys=KeyRing.generate())
    batched = [stage.name for stages in runtime.pure.values() for stage in stages]
    signals = [f"sla-signals-{name}" for name in SLA_SIGNALS]
    assert sorted(batched) == sorted(
        ["customer-requests", "sales-order-requests", "travel-trip-requests", *signals]
    )
    broadcast = ["parked-orders-customers", "parked-orders-products"]
    assert sorted(runtime.broadcast) == ["biz.catalog.product-model", "biz.sales.customer"]
    assert sorted([*app.agents, *batched, *broadcast]) == sorted(
        [
            "poll", "crm-accounts", "customer-requests", "erp-customers", "crm-orders",
            "sales-order-requests", "erp-sales-orders", "parked-orders-customers",
            "parked-orders-products", "crm-order-updates", "travel-approvals",
            "travel-trip-requests", "erp-business-trips", "sla-watches", *signals,
            "crm-leads", "lead-links", "stock-quants", "stock-productions",
            "stock-crm-availability",
            *(f"fulfilment-map-{name}" for name in ("sale-order", "mrp-production", "picking",
                                                     "invoice")),
            *(f"fulfilment-status-{name}" for name in ("sales-order", "manufacturing-order",
                                                        "shipment", "invoice")),
            *(f"catalog-{name}" for name in ("erp-products", "crm-products", "crm-prices",
                                             "models-to-crm", "prices-to-crm", "edits-to-erp",
                                             "crm-product-sink", "crm-price-sink",
                                             "erp-product-sink", "conflicts")),
        ]
    )  # fmt: skip
    paths = {view.view_path for view in app.web.views.values()}
    assert paths == {
        "/bizbus/ready/", "/readyz", "/healthz", "/metrics", "/bizbus/parked-orders/",
        "/webhooks/feishu", "/webhooks/dingtalk", "/webhooks/odoo/{token}",
    }  # fmt: skip
    assert len(runtime.poller.feeds) == 12  # CRM 5, ERP 6, the OA catch-up 1


def test_only_the_flows_asked_for_run_and_their_shared_write_back_once() -> None:
    app, _ = build_worker(
        RuntimeSettings(app_id="acme", flows="fulfilment"), keys=KeyRing.generate()
    )
    assert "crm-order-updates" in app.agents and "crm-orders" not in app.agents


def test_changelogs_are_compacted_with_their_tables_partitions() -> None:
    plans = _plans()
    assert plans["acme-xref-changelog"].config == {"cleanup.policy": "compact"}
    assert plans["acme-poll-cursors-changelog"].partitions == 4  # BIZBUS_POLL_PARTITIONS
    assert plans["prod.acme-poll-ticks"].partitions == 4


def test_catalog_topics_keep_their_declared_partitions_and_retention() -> None:
    plans = _plans()
    for spec in TOPICS.values():
        assert plans["prod." + spec.name].partitions == spec.partitions
        assert dict(plans["prod." + spec.name].config) == spec.config()


def test_merge_keeps_the_first_plan_of_each_name() -> None:
    first, second = TopicPlan("a", 3), TopicPlan("a", 1)
    assert merge_plans([first], [second, TopicPlan("b", 1)]) == [first, TopicPlan("b", 1)]
    assert len(merge_plans(catalog_plans(""), catalog_plans(""))) == len(TOPICS)


def _described(name: str, leaders: list[int], error: int = 0) -> dict[str, object]:
    partitions = [{"partition": i, "leader": leader} for i, leader in enumerate(leaders)]
    return {"topic": name, "error_code": error, "partitions": partitions}


def test_topics_unknown_partly_visible_or_leaderless_are_not_ready() -> None:
    described = [
        _described("ok", [1, 1]),
        _described("unknown", [], error=3),
        _described("partial", [1]),
        _described("leaderless", [1, -1]),
    ]
    expected = {"ok": 2, "unknown": 1, "partial": 2, "leaderless": 2}
    assert _not_ready(described, expected) == {"unknown", "partial", "leaderless"}


@dataclass
class _Member:
    subscription: list[str]


class _Cluster:
    def __init__(self, partitions: dict[str, set[int]]) -> None:
        self.partitions = partitions

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        return self.partitions.get(topic)


def test_missing_topics_are_the_subscribed_ones_the_metadata_lacks() -> None:
    cluster = _Cluster({"orders": {0, 1}, "ticks": set()})
    members = {"m1": _Member(["orders", "ticks"]), "m2": _Member(["cursors-changelog"])}
    assert missing_topics(cluster, members) == ["cursors-changelog", "ticks"]
    assert missing_topics(cluster, {"m1": _Member(["orders"])}) == []


def test_ready_state_says_what_it_waits_for() -> None:
    state = ReadyState(waiting_for=["a first poll of erp.picking"], assigned_partitions=3)
    assert state.as_dict() == {
        "ready": False,
        "waiting_for": ["a first poll of erp.picking"],
        "assigned_partitions": 3,
        "feeds_polled": 0,
        "ready_after_s": None,
        "poll_passes": {},
    }
