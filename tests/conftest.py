"""Session-wide fixtures: one real Kafka broker for the whole test session.

The broker is started from the Maven Central jars (deploy/kafka) unless `BIZBUS_TEST_KAFKA`
gives a bootstrap address. A broker that cannot start fails the tests that need it; never a skip.
"""

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bizbus.deploy.kafka import KafkaRuntimeSettings, start_cluster, stop_cluster
from bizbus.deploy.sandbox.runner import SandboxStack, start_sandbox, stop_sandbox
from bizbus.flows.runtime.topics_admin import TopicPlan, ensure_topics
from tests.integration.flowstack import FlowStack


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """Bootstrap address of a real broker, started once for the session and always stopped."""
    given = os.environ.get("BIZBUS_TEST_KAFKA")
    if given:
        yield given
        return
    run_dir = Path(tempfile.mkdtemp(prefix="bizbus-test-kafka-"))
    cluster = start_cluster(KafkaRuntimeSettings(), run_dir=run_dir)
    try:
        yield cluster.bootstrap
    finally:
        stop_cluster(cluster)
        shutil.rmtree(run_dir, ignore_errors=True)


@pytest.fixture
def fresh_topic(request: pytest.FixtureRequest) -> str:
    """A topic name no other test uses (not created: see `new_topic`)."""
    base = request.node.name.lower().replace("_", "-").replace("[", "-").replace("]", "")
    return f"test.{base[:60]}.{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def new_topic(kafka_bootstrap: str, fresh_topic: str) -> str:
    """`fresh_topic` created with one partition on the session broker.

    The broker does not auto-create topics (nothing of ours may depend on it), so a test
    creates what it writes to.
    """
    await ensure_topics(kafka_bootstrap, [TopicPlan(fresh_topic, 1)], replication_factor=1)
    return fresh_topic


def _sandbox_url(name: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    stack = start_sandbox([name], run_dir=tmp_path_factory.mktemp(f"sandbox-{name}"))
    try:
        yield stack.urls[name]
    finally:
        stop_sandbox(stack)


@pytest.fixture(scope="session")
def crm_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a sandbox CRM (Salesforce dialect) process on loopback, fresh data."""
    yield from _sandbox_url("crm", tmp_path_factory)


@pytest.fixture(scope="module")
def crm_pubsub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxStack]:
    """A sandbox CRM of the module's own that also serves the Pub/Sub API (keepalive 0.5 s).

    Its gRPC address is `grpc_addresses["crm"]`. A process per module: a module may move its
    clock (past the retention window) without touching other modules' CRM.
    """
    env = {"BIZBUS_SANDBOX_CRM_PUBSUB_KEEPALIVE_S": "0.5"}
    stack = start_sandbox(["crm"], run_dir=tmp_path_factory.mktemp("crm-pubsub"), env=env)
    try:
        yield stack
    finally:
        stop_sandbox(stack)


@pytest.fixture(scope="session")
def erp_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a sandbox ERP (Odoo dialect) process on loopback, fresh data."""
    yield from _sandbox_url("erp", tmp_path_factory)


@pytest.fixture(scope="session")
def oa_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a sandbox OA (Feishu dialect) process on loopback, fresh data."""
    yield from _sandbox_url("oa", tmp_path_factory)


@pytest.fixture(scope="session")
def dingtalk_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a sandbox OA (DingTalk dialect) process on loopback, fresh data."""
    yield from _sandbox_url("dingtalk", tmp_path_factory)


@pytest.fixture(scope="module")
def flow_stack_factory(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., FlowStack]]:
    """Start sandboxes + a worker for a test module: `flow_stack_factory(flows="orders")`."""
    stacks: list[FlowStack] = []

    def start(**options: Any) -> FlowStack:
        stack = FlowStack(kafka_bootstrap, tmp_path_factory.mktemp("flows"), **options)
        stacks.append(stack)
        return stack.start()

    yield start
    for stack in stacks:
        stack.stop()
