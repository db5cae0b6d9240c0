"""A worker starting on a busy machine: every topic exists before it joins, and it polls.

Two CPU hogs run beside the worker for the whole test (the machine has two cores), which made
the group's first assignment miss topics the worker had just created: no ticks, no polling.
"""

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from bizbus.deploy.demo.actors import CrmUser, ErpUser
from bizbus.flows.settings import RuntimeSettings
from bizbus.flows.worker import build_worker, worker_topics
from bizbus.schemas import KeyRing
from tests.integration.flowstack import WEB_TOKEN, FlowStack

ALL_FLOWS = RuntimeSettings().flows  # the default: every flow
MISSED = ("Ignoring missing topic", "not found in cluster metadata", "assignment misses")


@pytest.fixture(scope="module")
def cpu_hogs() -> Iterator[None]:
    """Keep both cores busy with two spinning processes while the module's tests run."""
    hogs = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"], stdin=subprocess.DEVNULL)
        for _ in range(2)
    ]
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


@pytest.fixture(scope="module")
def stack(cpu_hogs: None, flow_stack_factory: Any) -> Iterator[FlowStack]:
    started: FlowStack = flow_stack_factory(flows=ALL_FLOWS)
    yield started


def test_worker_is_ready_under_cpu_pressure_with_every_feed_polled(stack: FlowStack) -> None:
    log = stack.log_path.read_text()
    assert not [line for line in log.splitlines() if any(text in line for text in MISSED)]
    ready = httpx.get(
        f"{stack.worker_url}/bizbus/ready/",
        headers={"Authorization": f"Bearer {WEB_TOKEN}"},
        timeout=10,
    )
    assert ready.status_code == 200, ready.text
    state = ready.json()
    assert state["ready"] is True and state["waiting_for"] == []
    assert state["feeds_polled"] == 12  # CRM 5, ERP 6, the OA catch-up 1
    assert state["assigned_partitions"] > 0


async def test_every_topic_the_worker_uses_was_created_before_it_started(
    stack: FlowStack,
) -> None:
    settings = RuntimeSettings(
        app_id=stack.app_id, topic_prefix=stack.topic_prefix, flows=ALL_FLOWS
    )
    app, _ = build_worker(settings, keys=KeyRing.generate())
    planned = {plan.name: plan.partitions for plan in worker_topics(app, settings)}
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
    await admin.start()
    try:
        ours = [
            name
            for name in await admin.list_topics()
            if name.startswith((stack.topic_prefix, stack.app_id + "-"))
        ]
        described = await admin.describe_topics(ours)
    finally:
        await admin.close()
    assert sorted(ours) == sorted(planned), "the worker used a topic it did not plan"
    for topic in described:
        assert len(topic["partitions"]) == planned[topic["topic"]], topic["topic"]
    # faust declares its own topics as it starts: none was left for it to create.
    assert " created." not in stack.log_path.read_text().split("bizbus worker ready")[0]


async def test_a_crm_change_reaches_the_erp_while_the_machine_is_busy(
    stack: FlowStack, crm: CrmUser, erp: ErpUser
) -> None:
    number = f"C8{uuid.uuid4().int % 10**6:06d}"
    await crm.create(
        "Account", {"Name": f"常州恒力机床配件有限公司 {number}", "AccountNumber": number}
    )

    async def partner() -> list[dict[str, Any]]:
        return await erp.search_read("res.partner", [("ref", "=", number)], ["id"])

    await stack.wait_for(partner, what=f"ERP customer {number}")


def test_worker_log_names_its_ready_time(stack: FlowStack) -> None:
    lines = [line for line in Path(stack.log_path).read_text().splitlines() if "ready in" in line]
    assert lines and "partition(s) assigned and fetched, 12 feed(s) polled" in lines[0]
