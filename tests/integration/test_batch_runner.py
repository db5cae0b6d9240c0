"""The batched pure-stage loop on the real broker: order per key, commit after acks, resume."""

import asyncio
import uuid
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from bizbus.flows.runtime.batch_runner import BatchRunner, BatchSettings, Outgoing
from bizbus.flows.runtime.record import RawRecord
from bizbus.flows.runtime.topics_admin import TopicPlan, ensure_topics


async def _produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key) for key, value in records]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def _read(bootstrap: str, topic: str, count: int) -> list[tuple[bytes, bytes]]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    found: list[tuple[bytes, bytes]] = []
    try:
        async with asyncio.timeout(60):
            while len(found) < count:
                batch = await consumer.getmany(timeout_ms=200)
                found += [(r.key, r.value) for rs in batch.values() for r in rs]
    finally:
        await consumer.stop()
    return found


async def _committed(bootstrap: str, group: str, topic: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return sum(meta.offset for tp, meta in offsets.items() if tp.topic == topic)


async def test_records_flow_in_key_order_and_the_group_commits_what_it_handled(
    kafka_bootstrap: str,
) -> None:
    suffix = uuid.uuid4().hex[:8]
    source, sink = f"test.batch-in.{suffix}", f"test.batch-out.{suffix}"
    await ensure_topics(
        kafka_bootstrap, [TopicPlan(source, 3), TopicPlan(sink, 3)], replication_factor=1
    )
    records = [(f"k{n % 7}".encode(), f"{n}".encode()) for n in range(600)]
    await _produce(kafka_bootstrap, source, records[:300])

    async def forward(record: RawRecord) -> Sequence[Outgoing]:
        return [(sink, record.key, record.value, [("seen", b"1")])]

    group = f"test-batch-{suffix}"
    runner = BatchRunner(
        kafka_bootstrap, group_id=group, handlers={source: forward},
        settings=BatchSettings(max_records=50),
    )  # fmt: skip
    await runner.start()
    try:
        first = await _read(kafka_bootstrap, sink, 300)
    finally:
        await runner.stop()
    assert await _committed(kafka_bootstrap, group, source) == 300

    # A new runner of the same group goes on from the committed offsets.
    await _produce(kafka_bootstrap, source, records[300:])
    again = BatchRunner(kafka_bootstrap, group_id=group, handlers={source: forward})
    await again.start()
    try:
        found = await _read(kafka_bootstrap, sink, 600)
    finally:
        await again.stop()
    assert len(first) == 300 and len(found) == 600  # nothing handled twice, nothing lost
    for key in {key for key, _ in records}:
        sent = [int(value) for k, value in records if k == key]
        assert [int(value) for k, value in found if k == key] == sent
    assert again.handled == 300
