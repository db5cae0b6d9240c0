"""The ACL plan: derived from the catalog, the enabled flows and the worker's own topics."""

import pytest

from bizbus.connectors.errors import ConfigError
from bizbus.deploy.access import AclPrincipals, kafka_acls_arguments, strimzi_acls, worker_plan
from bizbus.flows.runtime.access import AccessPlan, Grant
from bizbus.flows.runtime.spec import Emit
from bizbus.flows.settings import RuntimeSettings
from bizbus.flows.worker import FLOWS, build_worker, worker_topic_use, worker_topics
from bizbus.schemas import TOPICS, KeyRing, SalesOrderRequestedV1, make_event

W, OPS = "User:bizbus-worker", "User:bizbus-ops"


def plan_of(flows: str | None = None) -> tuple[AccessPlan, RuntimeSettings]:
    settings = RuntimeSettings(app_id="acme", topic_prefix="prod.")
    if flows is not None:
        settings = settings.model_copy(update={"flows": flows})
    return worker_plan(settings, AclPrincipals("bizbus-worker", "bizbus-ops")), settings


def test_every_flow_declares_catalog_topics_it_emits() -> None:
    app, runtime = build_worker(RuntimeSettings(app_id="acme"), keys=KeyRing.generate())
    assert runtime.emits <= set(TOPICS)
    assert {"cmd.erp.sales-order", "biz.sales.order", "src.oa.approval-instance"} <= runtime.emits
    assert len(FLOWS) == 8 and app.conf.id == "acme"


async def test_publishing_to_an_undeclared_topic_is_refused() -> None:
    _, runtime = build_worker(
        RuntimeSettings(app_id="acme", flows="customers"), keys=KeyRing.generate()
    )
    event = make_event(
        SalesOrderRequestedV1.model_construct(),  # type: ignore[call-arg]  # never encoded
        source="bizbus://test",
        subject="o-1",
        correlationid="deal-1",
        origin="crm",
    )
    with pytest.raises(ConfigError, match=r"cmd\.erp\.sales-order.*Declaration\.emits"):
        await runtime.publish(Emit(event))


def test_the_worker_reads_its_stage_inputs_and_state_and_joins_its_two_groups() -> None:
    plan, settings = plan_of(flows="orders")
    app, runtime = build_worker(settings, keys=KeyRing.generate())
    own = {p.name for p in worker_topics(app, settings)} - {"prod." + n for n in TOPICS}
    assert plan.allowed(W, "Read", "topic") == runtime.inputs | own
    assert "prod.src.crm.order" in runtime.inputs
    assert "prod.acme-dead-letter-holds" in own and "prod.acme-poll-ticks" in own
    assert plan.allowed(W, "Read", "group") == {"acme", "acme-batch"}
    assert not any(name.endswith(".dlq") for name in plan.allowed(W, "Read", "topic"))


def test_the_worker_writes_what_its_flows_publish_and_their_dead_letters_only() -> None:
    plan, settings = plan_of(flows="orders")
    writes = plan.allowed(W, "Write", "topic")
    assert {"prod.biz.sales.order", "prod.cmd.erp.sales-order", "prod.cmd.crm.order"} <= writes
    assert "prod.src.crm.order.dlq" in writes
    # the customers and catalog flows are off: their topics are prepared, never written
    assert "prod.biz.sales.customer" not in writes and "prod.cmd.crm.product" not in writes
    assert "prod.biz.sales.customer" in plan.allowed(W, "Describe", "topic")
    assert plan.allowed(W, "Create", "topic") == {p.name for p in worker_topics(
        *build_worker(settings, keys=KeyRing.generate())[:1], settings)}  # fmt: skip


def test_the_operator_reads_everything_writes_only_replay_targets_and_creates_nothing() -> None:
    plan, _ = plan_of(flows="orders")
    assert plan.allowed(OPS, "Read", "topic") >= plan.allowed(W, "Create", "topic")
    assert plan.allowed(OPS, "Write", "topic") <= plan.allowed(W, "Read", "topic")
    assert "prod.acme-dead-letter-holds" in plan.allowed(OPS, "Write", "topic")
    assert not plan.allowed(OPS, "Create", "topic") and not plan.allowed(OPS, "Read", "group")


def test_without_create_the_worker_only_describes_what_it_prepares() -> None:
    settings = RuntimeSettings(app_id="acme", flows="orders")
    plan = worker_plan(settings, AclPrincipals("bizbus-worker", None), create=False)
    assert not plan.allowed(W, "Create", "topic") and plan.principals() == [W]
    assert "biz.sales.lead" in plan.allowed(W, "Describe", "topic")


def _parsed(arguments: list[list[str]]) -> set[Grant]:
    grants = set()
    for args in arguments:
        pairs = list(zip(args[1::2], args[2::2], strict=False))
        principal = dict(pairs)["--allow-principal"]
        ops = tuple(value for flag, value in pairs if flag == "--operation")
        for flag, value in pairs:
            if flag in ("--topic", "--group"):
                grants.add(Grant(principal, flag[2:], value, ops))  # type: ignore[arg-type]
    return grants


def test_the_kafka_acls_commands_and_strimzi_acls_are_the_plan_exactly() -> None:
    plan, _ = plan_of()
    arguments = kafka_acls_arguments(plan)
    assert all(args[0] == "--add" and args[4] == "*" for args in arguments)
    assert _parsed(arguments) == set(plan.grants)
    from_strimzi = {
        Grant(principal, acl["resource"]["type"], acl["resource"]["name"], tuple(acl["operations"]))
        for principal in (W, OPS)
        for acl in strimzi_acls(plan, principal)
    }
    assert from_strimzi == set(plan.grants)


def test_topic_use_is_by_physical_name() -> None:
    settings = RuntimeSettings(app_id="acme", topic_prefix="prod.", flows="customers")
    use = worker_topic_use(*build_worker(settings, keys=KeyRing.generate()), settings)
    used = use.prepares | use.reads | use.writes
    assert not used & set(TOPICS)  # catalog topics appear under the prefix only
    assert "prod.src.crm.account" in use.reads and "prod.biz.sales.account" in use.writes
