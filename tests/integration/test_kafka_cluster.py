"""The 3-node KRaft mode: replication factor 3, min.insync.replicas=2, survives losing a node."""

import asyncio
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bizbus.deploy.kafka import KafkaCluster, KafkaRuntimeSettings, start_cluster, stop_cluster


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
