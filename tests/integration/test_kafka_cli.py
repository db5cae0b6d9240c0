"""`bizbus kafka up|status|down` as a user runs it: real processes, nothing left behind."""

import asyncio
import subprocess
import sys
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bizbus.deploy.kafka import KafkaCluster
from bizbus.flows.runtime.topics_admin import TopicPlan, ensure_topics

BIZBUS = [sys.executable, "-m", "bizbus.deploy"]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BIZBUS, *args], capture_output=True, text=True, timeout=120)


async def _roundtrip(bootstrap: str) -> bytes:
    await ensure_topics(bootstrap, [TopicPlan("cli-check", 1)], replication_factor=1)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    await producer.send_and_wait("cli-check", "产品型号 BZ-200".encode())
    await producer.stop()
    consumer = AIOKafkaConsumer(
        "cli-check", bootstrap_servers=bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        async with asyncio.timeout(20):
            record = await consumer.getone()
    finally:
        await consumer.stop()
    value: bytes = record.value
    return value


async def test_up_status_down_leaves_no_java_process(tmp_path: Path) -> None:
    up = _run("kafka", "up", "--run-dir", str(tmp_path))
    assert up.returncode == 0, up.stderr
    bootstrap = up.stdout.strip()
    assert bootstrap.startswith("127.0.0.1:")
    assert "ready in" in up.stderr
    cluster = KafkaCluster.load(tmp_path)
    assert cluster is not None
    try:
        status = _run("kafka", "status", "--run-dir", str(tmp_path))
        assert status.returncode == 0 and status.stdout.strip() == bootstrap
        assert await _roundtrip(bootstrap) == "产品型号 BZ-200".encode()
        again = _run("kafka", "up", "--run-dir", str(tmp_path))
        assert again.returncode == 1 and "already running" in " ".join(again.stderr.split())
    finally:
        down = _run("kafka", "down", "--run-dir", str(tmp_path))
    assert down.returncode == 0, down.stderr
    assert not any(node.alive() for node in cluster.nodes)
    after = _run("kafka", "status", "--run-dir", str(tmp_path))
    assert after.returncode == 1 and "not running" in " ".join(after.stderr.split())
