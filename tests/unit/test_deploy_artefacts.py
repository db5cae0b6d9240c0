"""Deployment artefacts: manifests rendered from the catalog and plan, compose, Dockerfile.

No Docker engine or cluster here: manifests are validated offline (kubernetes-validate's
bundled schemas for the core kinds), the compose file and Dockerfile by what they name.
"""

import re
import shlex
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from bizbus.deploy.access import AclPrincipals, strimzi_acls, worker_plan
from bizbus.deploy.cli import app as cli
from bizbus.deploy.envfile import is_secret, variables
from bizbus.deploy.k8s.manifests import SECRET_KEYS, K8sOptions, render
from bizbus.flows.runtime.access import Grant
from bizbus.flows.runtime.kafka_config import KafkaConnection
from bizbus.flows.runtime.readiness import HEALTHZ_PATH, READY_PATH
from bizbus.flows.settings import RuntimeSettings
from bizbus.flows.worker import build_worker, worker_topics
from bizbus.schemas import KeyRing

ROOT = Path(__file__).resolve().parents[2]
K8S_VERSION = "1.33.0"
CORE = {"Namespace", "ConfigMap", "Secret", "StatefulSet", "Service", "PodDisruptionBudget"}


@pytest.fixture(scope="module")
def settings() -> RuntimeSettings:
    return RuntimeSettings(app_id="bizbus-prod", topic_prefix="prod.", flows="orders,customers")


@pytest.fixture(scope="module")
def manifests(settings: RuntimeSettings) -> list[dict[str, Any]]:
    rendered = render(settings, K8sOptions(kafka_replicas=3))
    # what `kubectl apply` reads: the YAML text, not our dicts
    return list(yaml.safe_load_all(yaml.safe_dump_all(rendered)))


def of_kind(manifests: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [m for m in manifests if m["kind"] == kind]


def test_one_kafka_topic_per_worker_topic_as_the_worker_would_create_it(
    manifests: list[dict[str, Any]], settings: RuntimeSettings
) -> None:
    pods = settings.model_copy(update={"kafka_bootstrap": "bizbus-kafka-bootstrap:9093"})
    app, _ = build_worker(pods, KafkaConnection(pods.kafka_bootstrap), keys=KeyRing.generate())
    expected = {
        plan.name: (plan.partitions, {"min.insync.replicas": "2", **plan.config})
        for plan in worker_topics(app, pods)
    }
    topics = of_kind(manifests, "KafkaTopic")
    found = {t["spec"]["topicName"]: (t["spec"]["partitions"], t["spec"]["config"]) for t in topics}
    assert found == expected
    assert {t["spec"]["replicas"] for t in topics} == {3}
    assert "prod.src.crm.order" in found and "prod.src.crm.order.dlq" in found
    names = [t["metadata"]["name"] for t in topics]
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name) for name in names)


def test_kafka_users_carry_the_acl_plan_without_create(
    manifests: list[dict[str, Any]], settings: RuntimeSettings
) -> None:
    pods = settings.model_copy(update={"kafka_bootstrap": "bizbus-kafka-bootstrap:9093"})
    plan = worker_plan(pods, AclPrincipals(), create=False)
    users = {u["metadata"]["name"]: u for u in of_kind(manifests, "KafkaUser")}
    assert set(users) == {"bizbus-worker", "bizbus-ops"}
    rendered = {
        Grant(f"User:{name}", acl["resource"]["type"], acl["resource"]["name"],
              tuple(acl["operations"]))
        for name, user in users.items()
        for acl in user["spec"]["authorization"]["acls"]
    }  # fmt: skip
    assert rendered == set(plan.grants)
    assert all(u["spec"]["authentication"]["type"] == "scram-sha-512" for u in users.values())
    assert not any("Create" in g.operations for g in rendered)
    assert (
        strimzi_acls(plan, "User:bizbus-worker")
        == users["bizbus-worker"]["spec"]["authorization"]["acls"]
    )


def test_core_kinds_validate_against_the_kubernetes_schemas(
    manifests: list[dict[str, Any]],
) -> None:
    core = [m for m in manifests if m["kind"] in CORE]
    assert {m["kind"] for m in core} == CORE
    for manifest in core:
        kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)


def test_a_broken_manifest_is_caught_by_the_validator(manifests: list[dict[str, Any]]) -> None:
    [stateful] = of_kind(manifests, "StatefulSet")
    broken = yaml.safe_load(yaml.safe_dump(stateful))
    broken["spec"]["replicas"] = "three"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_the_workers_use_static_membership_strimzi_secrets_and_the_ready_probe(
    manifests: list[dict[str, Any]],
) -> None:
    [stateful] = of_kind(manifests, "StatefulSet")
    [container] = stateful["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["BIZBUS_INSTANCE_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["BIZBUS_KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "bizbus-worker", "key": "password"}  # fmt: skip
    assert READY_PATH in container["readinessProbe"]["exec"]["command"][-1]
    assert HEALTHZ_PATH in container["livenessProbe"]["exec"]["command"][-1]
    [config] = of_kind(manifests, "ConfigMap")
    assert config["data"]["BIZBUS_LOG_FORMAT"] == "json"
    assert container["securityContext"]["runAsNonRoot"] is True
    [pdb] = of_kind(manifests, "PodDisruptionBudget")
    assert pdb["spec"]["selector"] == stateful["spec"]["selector"]
    [monitor] = of_kind(manifests, "ServiceMonitor")
    assert monitor["spec"]["endpoints"][0]["port"] == container["ports"][0]["name"]


def test_each_worker_keeps_its_rocksdb_tables_on_its_own_volume(
    manifests: list[dict[str, Any]],
) -> None:
    [stateful] = of_kind(manifests, "StatefulSet")
    [config] = of_kind(manifests, "ConfigMap")
    assert config["data"]["BIZBUS_TABLE_STORE"] == "rocksdb"
    [claim] = stateful["spec"]["volumeClaimTemplates"]
    [container] = stateful["spec"]["template"]["spec"]["containers"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts[claim["metadata"]["name"]] == config["data"]["BIZBUS_DATADIR"]
    volumes = {v["name"] for v in stateful["spec"]["template"]["spec"]["volumes"]}
    assert claim["metadata"]["name"] not in volumes  # the claim, not a pod-lived emptyDir


def test_every_setting_the_manifests_set_is_real_and_secrets_stay_in_the_secret(
    manifests: list[dict[str, Any]],
) -> None:
    known = variables()
    [config] = of_kind(manifests, "ConfigMap")
    [secret] = of_kind(manifests, "Secret")
    [stateful] = of_kind(manifests, "StatefulSet")
    env = stateful["spec"]["template"]["spec"]["containers"][0]["env"]
    names = [*config["data"], *secret["stringData"], *(e["name"] for e in env)]
    assert [name for name in names if name not in known] == []
    assert not any(is_secret(name) for name in config["data"])
    assert set(secret["stringData"]) == set(SECRET_KEYS)
    assert all(is_secret(name) for name in SECRET_KEYS)
    settings = RuntimeSettings.model_validate(
        {k.removeprefix("BIZBUS_").lower(): v for k, v in config["data"].items()
         if not k.startswith("BIZBUS_KAFKA_") or k == "BIZBUS_KAFKA_BOOTSTRAP"}
    )  # fmt: skip
    assert settings.replication_factor == 3


def test_the_cli_renders_the_same_manifests(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    out = tmp_path / "k8s.yaml"
    result = CliRunner().invoke(cli, ["deploy", "render", "k8s", "--out", str(out)])
    assert result.exit_code == 0, result.output
    kinds = {m["kind"] for m in yaml.safe_load_all(out.read_text())}
    assert CORE | {"Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser", "ServiceMonitor"} == kinds
    assert "&id" not in out.read_text(), "a value used twice is written twice, not aliased"


# --- compose ---------------------------------------------------------------------------------

COMPOSE = ROOT / "deploy/compose.yaml"
IMAGES = {"apache/kafka:4.1.1"}  # the official image; bizbus images are built from deploy/


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def test_compose_parses_and_names_only_images_it_builds_or_the_official_kafka() -> None:
    services = compose()["services"]
    for name, service in services.items():
        if "build" in service:
            assert service["build"]["dockerfile"] == "deploy/Dockerfile", name
            assert (COMPOSE.parent / service["build"]["context"]).resolve() == ROOT
        else:
            assert service["image"] in IMAGES, name
        for needed in service.get("depends_on", {}):
            assert needed in services, (name, needed)
    kafka = [s for s in services if s.startswith("kafka-") and s[-1].isdigit()]
    assert len(kafka) == 3
    assert {services[s]["environment"]["KAFKA_NODE_ID"] for s in kafka} == {1, 2, 3}
    assert services["worker"]["environment"]["BIZBUS_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert set(services["sandbox-crm"]["profiles"]) == {"sandbox"}
    assert "deploy" not in services["worker"] or "replicas" not in services["worker"]["deploy"]


def test_every_bizbus_setting_compose_sets_is_real() -> None:
    known = variables()
    used = {
        key
        for service in compose()["services"].values()
        for key in service.get("environment", {})
        if key.startswith("BIZBUS_")
    }
    assert used and sorted(used - set(known)) == []


def test_compose_runs_real_bizbus_commands() -> None:
    services = compose()["services"]
    certs = services["certs"]["command"][0]
    assert "bizbus kafka certs /certs" in certs and "bizbus acl plan" in certs
    from typer.testing import CliRunner

    for args in (["kafka", "certs", "--help"], ["acl", "plan", "--help"], ["worker", "--help"]):
        assert CliRunner().invoke(cli, args).exit_code == 0, args


# --- Dockerfile ------------------------------------------------------------------------------

DOCKERFILE = ROOT / "deploy/Dockerfile"


def instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    rows = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return [(row.split(None, 1)[0].upper(), row.split(None, 1)[1]) for row in rows]


def test_dockerfile_copies_only_what_exists_and_runs_as_non_root() -> None:
    steps = instructions()
    copies = [args for op, args in steps if op == "COPY" and "--from" not in args]
    for args in copies:
        *sources, _ = shlex.split(args)
        for source in sources:
            assert (ROOT / source).exists(), source
    assert next(args for op, args in steps if op == "FROM").endswith("AS build")
    users = [args for op, args in steps if op == "USER"]
    assert users and not users[-1].startswith(("0", "root"))


def test_dockerfile_runs_the_worker_and_checks_readiness() -> None:
    steps = dict(instructions())
    import json

    entry, command = json.loads(steps["ENTRYPOINT"]), json.loads(steps["CMD"])
    assert entry == ["bizbus"] and command[0] == "worker"
    assert READY_PATH in steps["HEALTHCHECK"] and "6066" in steps["HEALTHCHECK"]
    assert RuntimeSettings().web_port == 6066
    assert {c.name for c in cli.registered_commands} >= {"worker"}
