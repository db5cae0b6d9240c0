"""Kafka chores of the bench: preload a topic, wait for a count, read timestamps, clean up.

Waiting reads only end offsets (cheap), so the bench process takes no CPU from what it measures;
timestamps are read once the work is done. A stage's rate comes from its output records' own
CreateTime, set by its producer: first and last record of each partition are enough, since one
producer's timestamps never go back within a partition.
"""

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from bizbus.deploy.bench.records import Record
from bizbus.flows.runtime.kafka_config import KafkaTarget, admin_client, consumer, producer
from bizbus.flows.runtime.topics_admin import TopicPlan, ensure_topics

__all__ = [
    "BenchStalledError",
    "count_records",
    "create_topics",
    "delete_topics",
    "first_after",
    "preload",
    "read_keys",
    "time_span",
    "wait_for_count",
]

Progress = Callable[[str], None]
Diagnose = Callable[[], str]


class BenchStalledError(RuntimeError):
    """What the bench waits for stopped progressing; the message says what and where."""


def _quiet(_: str) -> None:
    return None


async def create_topics(kafka: KafkaTarget, plans: Iterable[TopicPlan]) -> None:
    """Create topics (replication 1: the bench's broker is one node) and wait until visible."""
    await ensure_topics(kafka, plans, replication_factor=1)


async def delete_topics(kafka: KafkaTarget, owned: Callable[[str], bool]) -> None:
    """Delete the topics `owned` picks, so repeated runs do not pile partitions up."""
    admin = admin_client(kafka, request_timeout_ms=30000)
    await admin.start()
    try:
        doomed = sorted(name for name in await admin.list_topics() if owned(name))
        if doomed:
            await admin.delete_topics(doomed)
    finally:
        await admin.close()


async def preload(
    kafka: KafkaTarget, topic: str, records: Sequence[Record], *, progress: Progress = _quiet
) -> None:
    """Write `records` to `topic` as fast as the broker takes them (acked by all replicas)."""
    writer = producer(
        kafka,
        acks="all",
        enable_idempotence=True,
        linger_ms=20,
        max_batch_size=512 * 1024,
    )
    await writer.start()
    try:
        pending = []
        for index, (key, value, headers) in enumerate(records, start=1):
            pending.append(await writer.send(topic, value, key=key, headers=headers))
            if index % 10000 == 0:
                progress(f"preloading {topic}: {index:,}/{len(records):,}")
        await writer.flush()
        await asyncio.gather(*pending)
    finally:
        await writer.stop()


@asynccontextmanager
async def _reader(kafka: KafkaTarget, topic: str) -> Any:
    reader = consumer(kafka, enable_auto_commit=False, auto_offset_reset="earliest")
    await reader.start()
    try:
        partitions = reader.partitions_for_topic(topic)
        if partitions is None:
            await reader._client.force_metadata_update()  # a topic created a moment ago
            partitions = reader.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        reader.assign(tps)
        yield reader, tps
    finally:
        await reader.stop()


async def count_records(kafka: KafkaTarget, topic: str) -> int:
    """Return how many records `topic` holds (sum of its end offsets)."""
    async with _reader(kafka, topic) as (consumer, tps):
        return sum((await consumer.end_offsets(tps)).values()) if tps else 0


async def wait_for_count(
    kafka: KafkaTarget,
    topic: str,
    wanted: int,
    *,
    stall_s: float,
    progress: Progress = _quiet,
    failures: str | None = None,
    diagnose: Diagnose | None = None,
    what: str = "records",
) -> float:
    """Wait until `topic` holds `wanted` records; return the monotonic time it was seen.

    Raises:
        BenchStalledError: No new record for `stall_s`, or `failures` (a dead-letter topic)
            received one; the message carries `diagnose()` (e.g. the worker's log tail).
    """
    async with _reader(kafka, topic) as (consumer, tps):
        watch: list[TopicPartition] = []
        if failures is not None:
            watch = [TopicPartition(failures, 0)]
        seen, moved = -1, time.monotonic()
        while True:
            count = sum((await consumer.end_offsets(tps)).values())
            if count >= wanted:
                return time.monotonic()
            if watch and sum((await consumer.end_offsets(watch)).values()):
                raise BenchStalledError(
                    f"{failures} received dead letters while waiting for {topic}"
                    + (f"\n{diagnose()}" if diagnose else "")
                )
            now = time.monotonic()
            if count != seen:
                seen, moved = count, now
            elif now - moved > stall_s:
                raise BenchStalledError(
                    f"{topic} stayed at {count:,} of {wanted:,} {what} for {stall_s:.0f} s"
                    + (f"\n{diagnose()}" if diagnose else "")
                )
            progress(f"{count:,}/{wanted:,} {what}")
            await asyncio.sleep(0.25)


async def _one(consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int) -> Any:
    consumer.seek(tp, offset)
    while True:
        batch = await consumer.getmany(tp, timeout_ms=5000, max_records=1)
        if batch.get(tp):
            return batch[tp][0]


async def time_span(
    kafka: KafkaTarget, topic: str, before_ms: int | None = None
) -> tuple[int, int, int]:
    """Return (records, first CreateTime ms, last CreateTime ms) of a topic's records.

    Only records stamped before `before_ms` count, when given. One producer's timestamps never
    go back within a partition, so first and last records of each partition are enough.
    """
    async with _reader(kafka, topic) as (consumer, tps):
        starts = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
        if before_ms is not None:
            found = await consumer.offsets_for_times({tp: before_ms for tp in tps})
            ends = {tp: found[tp].offset if found.get(tp) else ends[tp] for tp in tps}
        first, last, count = None, None, 0
        for tp in tps:
            if ends[tp] <= starts[tp]:
                continue
            count += ends[tp] - starts[tp]
            head = (await _one(consumer, tp, starts[tp])).timestamp
            tail = (await _one(consumer, tp, ends[tp] - 1)).timestamp
            first = head if first is None else min(first, head)
            last = tail if last is None else max(last, tail)
        if first is None or last is None:
            return 0, 0, 0
        return count, first, last


async def first_after(kafka: KafkaTarget, topic: str, since_ms: int) -> int | None:
    """Return the earliest CreateTime (ms) at or after `since_ms` in `topic`, or None."""
    async with _reader(kafka, topic) as (consumer, tps):
        found = await consumer.offsets_for_times({tp: since_ms for tp in tps})
        stamps = [entry.timestamp for entry in found.values() if entry is not None]
        return min(stamps) if stamps else None


async def read_keys(kafka: KafkaTarget, topic: str) -> list[tuple[bytes, int]]:
    """Return every record's (key, CreateTime ms) in `topic`."""
    async with _reader(kafka, topic) as (consumer, tps):
        ends = await consumer.end_offsets(tps)
        await consumer.seek_to_beginning(*tps)
        rows: list[tuple[bytes, int]] = []
        while True:
            positions = {tp: await consumer.position(tp) for tp in tps}
            if all(positions[tp] >= ends[tp] for tp in tps):
                return rows
            batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
            for records in batches.values():
                rows.extend((record.key or b"", record.timestamp) for record in records)
