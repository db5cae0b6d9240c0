"""The order story over SASL_SSL with SCRAM and least-privilege ACLs, on one secure cluster.

One KRaft node started as `bizbus kafka up --secure` starts it (TLS listener, SCRAM users
formatted in, StandardAuthorizer), the worker's ACLs applied from the same plan `bizbus acl
plan` prints; a worker running `customers,orders` as `bizbus-worker` against the CRM and ERP
sandboxes. Plaintext, a wrong password and a principal without ACLs are refused with one line.
"""

import os
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from aiokafka.errors import KafkaConnectionError, TopicAuthorizationFailedError

from bizbus.deploy.access import AclPrincipals, kafka_acls_arguments, worker_plan
from bizbus.deploy.demo.actors import CrmUser, ErpUser
from bizbus.deploy.kafka import KafkaCluster, KafkaRuntimeSettings, start_cluster, stop_cluster
from bizbus.deploy.kafka.cluster import apply_acl_commands
from bizbus.deploy.sandbox.company import product
from bizbus.flows.personal import throwaway_key
from bizbus.flows.runtime.kafka_access import KafkaAccessError, check_access
from bizbus.flows.runtime.kafka_config import KafkaConnection, admin_client, producer
from bizbus.flows.settings import RuntimeSettings
from tests.integration.flowstack import ROOT, FlowStack
from tests.integration.test_flow_orders import (
    MODELS,
    ensure_crm_product,
    erp_order,
    known_customer,
    read_topic,
    wait_completed,
)

WORKER, OPERATOR, INTRUDER = "bizbus-worker", "bizbus-ops", "intruder"
FLOWS = "customers,orders"


@pytest.fixture(scope="module")
def secure_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    cluster = start_cluster(
        KafkaRuntimeSettings(),
        run_dir=tmp_path_factory.mktemp("kafka-secure"),
        secure_users=[WORKER, OPERATOR, INTRUDER],
    )
    try:
        yield cluster
    finally:
        stop_cluster(cluster)
    assert not any(node.alive() for node in cluster.nodes)


@pytest.fixture(scope="module")
def stack(
    secure_cluster: KafkaCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FlowStack]:
    security = secure_cluster.security
    assert security is not None
    built = FlowStack(
        secure_cluster.bootstrap,
        tmp_path_factory.mktemp("secure-flows"),
        flows=FLOWS,
        systems=("crm", "erp"),
        worker_env=security.env(WORKER),
        kafka=secure_cluster.connection(),  # the test's own reads and checks run as admin
    )
    settings = RuntimeSettings(
        kafka_bootstrap=secure_cluster.bootstrap,
        app_id=built.app_id,
        topic_prefix=built.topic_prefix,
        flows=FLOWS,
    )
    plan = worker_plan(settings, AclPrincipals(worker=WORKER, operator=OPERATOR))
    apply_acl_commands(secure_cluster, KafkaRuntimeSettings(), kafka_acls_arguments(plan))
    try:
        yield built.start()
    finally:
        built.stop()


def login_env(cluster: KafkaCluster, principal: str, **extra: str) -> dict[str, str]:
    """Settings of a bizbus process logging in to `cluster` as `principal`."""
    assert cluster.security is not None
    return {"BIZBUS_KAFKA_BOOTSTRAP": cluster.bootstrap, **cluster.security.env(principal), **extra}


def bizbus(
    *args: str, env: dict[str, str], timeout_s: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bizbus.deploy", *args],
        cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout_s,
        check=False,
    )  # fmt: skip


async def test_an_order_flows_end_to_end_over_sasl_ssl_as_the_least_privileged_worker(
    stack: FlowStack, crm: CrmUser, erp: ErpUser
) -> None:
    for code in MODELS:
        await ensure_crm_product(crm, code, product(code).list_price)
    account_id = await known_customer(stack, crm, erp)
    order_id = await crm.place_order(account_id, [("HL-SM-7.5", 3, Decimal("6400"))])

    name = await wait_completed(stack, crm, erp, order_id)

    order = await erp_order(erp, order_id)
    assert order is not None and order["state"] == "sale" and name.startswith("S")
    commands = [
        r for r in await read_topic(stack, "cmd.erp.sales-order") if r[0] == order_id.encode()
    ]
    assert len(commands) == 1
    assert f"Kafka: SASL_SSL (SCRAM-SHA-512 as {WORKER})" in stack.log_path.read_text()


async def test_the_worker_may_not_write_a_topic_its_flows_do_not_publish_to(
    stack: FlowStack, secure_cluster: KafkaCluster
) -> None:
    writer = producer(secure_cluster.connection(WORKER), acks="all", request_timeout_ms=10000)
    await writer.start()
    try:
        await writer.send_and_wait(stack.topic("biz.sales.order"), b"{}", key=b"k")  # its own
        with pytest.raises(TopicAuthorizationFailedError):
            # prepared by the worker (the catalog), written by no flow it runs
            await writer.send_and_wait(stack.topic("biz.sales.lead"), b"{}", key=b"k")
    finally:
        await writer.stop()


async def test_a_plaintext_client_is_refused(secure_cluster: KafkaCluster) -> None:
    plain = KafkaConnection(secure_cluster.bootstrap)
    with pytest.raises(KafkaAccessError, match="BIZBUS_KAFKA_SECURITY_PROTOCOL"):
        await check_access(plain, timeout_s=10)
    admin = admin_client(plain, request_timeout_ms=5000)
    with pytest.raises(KafkaConnectionError):
        await admin.start()
    await admin.close()


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"BIZBUS_KAFKA_SASL_PASSWORD": "not-the-password"}, "BIZBUS_KAFKA_SASL_PASSWORD"),
        ({"BIZBUS_KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"}, "BIZBUS_KAFKA_SECURITY_PROTOCOL"),
        (
            {"BIZBUS_KAFKA_SSL_CAFILE": "/etc/ssl/certs/ca-certificates.crt"},
            "BIZBUS_KAFKA_SSL_CAFILE",
        ),
    ],
)
def test_bad_credentials_stop_the_cli_with_one_line_naming_the_setting(
    secure_cluster: KafkaCluster, change: dict[str, str], named: str
) -> None:
    env = login_env(secure_cluster, OPERATOR, **change)
    if change.get("BIZBUS_KAFKA_SECURITY_PROTOCOL") == "PLAINTEXT":
        env = {k: v for k, v in env.items() if not k.startswith("BIZBUS_KAFKA_SSL_")}
    result = bizbus("dlq", "list", env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and named in lines[0], result.stderr
    assert "Traceback" not in result.stderr and "not-the-password" not in result.stderr


def test_the_operator_lists_dead_letters_with_its_own_acls(
    stack: FlowStack, secure_cluster: KafkaCluster
) -> None:
    env = login_env(secure_cluster, OPERATOR, BIZBUS_TOPIC_PREFIX=stack.topic_prefix)
    result = bizbus("dlq", "list", env=env)
    assert result.returncode == 0, result.stderr
    assert f"{stack.topic('src.crm.order.dlq')}\t" in result.stdout


def test_a_principal_without_acls_is_denied_with_a_clear_error(
    secure_cluster: KafkaCluster, tmp_path: Path
) -> None:
    env = login_env(
        secure_cluster, INTRUDER,
        BIZBUS_APP_ID="intruding", BIZBUS_TOPIC_PREFIX="intruder.", BIZBUS_FLOWS=FLOWS,
        BIZBUS_DATADIR=str(tmp_path / "faust"), **throwaway_key("intruder")[1],
    )  # fmt: skip
    result = bizbus("worker", env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    message = " ".join(result.stderr.split())
    assert "Kafka denied User:intruder creating topic intruder." in message, result.stderr
    assert "bizbus acl plan" in message and "Traceback" not in result.stderr
