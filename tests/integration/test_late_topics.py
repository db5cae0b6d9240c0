"""A topic that reaches the metadata after the group's first assignment is still consumed.

faust leaves such a topic out of the assignment and aiokafka looks again only after 5 minutes of
metadata age; bizbus's assignor notices the miss and rejoins as soon as the topic appears.
"""

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bizbus.flows.runtime.topics_admin import TopicPlan, ensure_topics
from tests.integration.faust_process import FaustWorker

MISS_LOG = b"the group's assignment misses 1 topic(s)"


@pytest.fixture
async def late_worker(kafka_bootstrap: str, tmp_path: Path) -> AsyncIterator[FaustWorker]:
    suffix = uuid.uuid4().hex[:8]
    env = {
        **os.environ,
        "LATE_APP_ID": f"test-late-{suffix}",
        "LATE_BOOTSTRAP": kafka_bootstrap,
        "LATE_DATADIR": str(tmp_path / "faust"),
        "LATE_IN": f"test.late-in.{suffix}",
        "LATE_OUT": f"test.late-out.{suffix}",
    }
    await ensure_topics(kafka_bootstrap, [TopicPlan(env["LATE_OUT"], 1)], replication_factor=1)
    worker = FaustWorker(
        env, tmp_path / "worker.log", module="tests.integration.faust_late_topic_app"
    )
    yield worker
    if worker.process is not None and worker.process.poll() is None:
        worker.process.kill()
        worker.process.wait()


async def _wait_for_log(worker: FaustWorker, text: bytes, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in worker.log.read_bytes():
        assert worker.process is not None and worker.process.poll() is None, "worker died"
        assert time.monotonic() < deadline, f"no {text!r} in:\n{worker.log.read_text()[-3000:]}"
        await asyncio.sleep(0.2)


async def test_topic_created_after_the_first_assignment_is_consumed_after_a_rejoin(
    kafka_bootstrap: str, late_worker: FaustWorker
) -> None:
    late_worker.start()
    await _wait_for_log(late_worker, MISS_LOG)

    topic_in = late_worker.env["LATE_IN"]
    await ensure_topics(kafka_bootstrap, [TopicPlan(topic_in, 1)], replication_factor=1)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic_in, b'"arrived"', key=b'"k"')
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        late_worker.env["LATE_OUT"], bootstrap_servers=kafka_bootstrap,
        auto_offset_reset="earliest", enable_auto_commit=False,
    )  # fmt: skip
    await consumer.start()
    try:
        # Well inside aiokafka's 300 s metadata age: only the rejoin gets the record through.
        record = await asyncio.wait_for(consumer.getone(), timeout=90)
    except TimeoutError:
        raise AssertionError(
            f"the late topic was never consumed; worker log:\n{late_worker.log.read_text()[-3000:]}"
        ) from None
    finally:
        await consumer.stop()
    assert record.value == b'"arrived"'
    assert b"now in the metadata; rejoining the group" in late_worker.log.read_bytes()
    assert late_worker.stop() == 0
