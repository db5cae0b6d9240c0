"""The 3-node KRaft mode: replication factor 3, min.insync.replicas=2, survives losing a node.

A worker with default settings sizes its topics by the cluster: 3 copies, 2 in sync.
"""

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from bizbus.deploy.kafka import KafkaCluster, KafkaRuntimeSettings, start_cluster, stop_cluster
from bizbus.deploy.kafka.cluster import free_ports
from bizbus.deploy.sandbox.wiring import connector_env
from bizbus.flows.personal import throwaway_key
from bizbus.flows.runtime.kafka_config import KafkaConnection
from bizbus.flows.settings import RuntimeSettings
from bizbus.flows.worker import build_worker, worker_topics


@pytest.fixture(scope="module")
def three_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    cluster = start_cluster(
        KafkaRuntimeSettings(heap="384m"), nodes=3, run_dir=tmp_path_factory.mktemp("kafka3")
    )
    try:
        yield cluster
    finally:
        stop_cluster(cluster)
    assert not any(node.alive() for node in cluster.nodes)


async def _replication_of(bootstrap: str, names: list[str]) -> dict[str, tuple[int, str]]:
    """Return each topic's replica count and min.insync.replicas."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(names)
        replicas = {t["topic"]: {len(p["replicas"]) for p in t["partitions"]} for t in described}
        resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
        configs = {}
        for response in await admin.describe_configs(resources):
            for _, _, _, name, entries in response.resources:
                configs[name] = {entry[0]: entry[1] for entry in entries}
    finally:
        await admin.close()
    return {name: (max(replicas[name]), configs[name]["min.insync.replicas"]) for name in names}


async def test_a_worker_with_default_settings_replicates_three_times_with_two_in_sync(
    three_nodes: KafkaCluster, tmp_path: Path
) -> None:
    unreachable = "http://127.0.0.1:9"  # the systems play no part in preparing topics
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("BIZBUS_")},
        **connector_env({"crm": unreachable, "erp": unreachable}),
        "BIZBUS_KAFKA_BOOTSTRAP": three_nodes.bootstrap,
        "BIZBUS_APP_ID": "rf-check",
        "BIZBUS_TOPIC_PREFIX": "rf.",
        "BIZBUS_FLOWS": "orders",
        "BIZBUS_DATADIR": str(tmp_path / "faust"),
        "BIZBUS_WEB_PORT": str(free_ports(1)[0]),
        **throwaway_key("rf-check")[1],
    }
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "bizbus.deploy", "worker"],
            env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while b"created " not in log.read_bytes():
            assert worker.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            await asyncio.sleep(0.2)
        assert "3 broker(s); topics keep 3 copies (min.insync.replicas 2)" in log.read_text()
        settings = RuntimeSettings(app_id="rf-check", topic_prefix="rf.", flows="orders")
        app, _ = build_worker(
            settings, KafkaConnection(three_nodes.bootstrap), keys=throwaway_key("rf")[0]
        )
        names = sorted(plan.name for plan in worker_topics(app, settings))
        assert "rf.src.crm.order" in names and "rf-check-xref-changelog" in names
        found = await _replication_of(three_nodes.bootstrap, names)
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    assert set(found.values()) == {(3, "2")}, found


# Runs last: it kills a node of the module's cluster.
async def test_three_node_cluster_replicates_and_survives_losing_a_node(
    three_nodes: KafkaCluster, fresh_topic: str
) -> None:
    bootstrap = three_nodes.bootstrap
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        assert len((await admin.describe_cluster())["brokers"]) == 3
        await admin.create_topics([NewTopic(fresh_topic, num_partitions=2, replication_factor=3)])
        replicas: set[int] = set()
        async with asyncio.timeout(30):  # metadata of a new topic reaches every node shortly
            while not replicas:
                described = await admin.describe_topics([fresh_topic])
                replicas = {len(p["replicas"]) for p in described[0]["partitions"]}
                await asyncio.sleep(0.2)
        assert replicas == {3}
    finally:
        await admin.close()

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, request_timeout_ms=15000
    )
    await producer.start()
    try:
        for i in range(10):
            await producer.send_and_wait(fresh_topic, b"before-%d" % i, key=b"k%d" % i)
        victim = three_nodes.nodes[2]
        os.kill(victim.pid, signal.SIGKILL)  # min.insync.replicas=2 keeps acks=all writable
        for i in range(10):
            await producer.send_and_wait(fresh_topic, b"after-%d" % i, key=b"k%d" % i)
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        fresh_topic,
        bootstrap_servers=",".join(f"127.0.0.1:{n.port}" for n in three_nodes.nodes[:2]),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    values: set[bytes] = set()
    try:
        async with asyncio.timeout(60):
            while len(values) < 20:
                batch = await consumer.getmany(timeout_ms=500)
                values.update(r.value for rs in batch.values() for r in rs)
    finally:
        await consumer.stop()
    assert values == {b"before-%d" % i for i in range(10)} | {b"after-%d" % i for i in range(10)}
    assert Path(three_nodes.nodes[0].log_path).exists()
