"""Pure stages as one batched aiokafka loop: fetch a batch, handle it, produce, flush, commit.

faust's per-event machinery caps a stage at 1-4k events/s (measured; notes/kafka-runtime.md),
while a raw consume→produce pipe moves ~25k/s. A stage that calls no external system and keeps
no table therefore runs here, in its own consumer group, under the worker's lifecycle: records
are handled in partition order, every output is sent without waiting for its ack, and a batch's
offsets are committed only once all its outputs were acked, so a crash replays at most the batch
in hand (at-least-once; sinks are idempotent). A rebalance waits for that batch.
"""

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.partitioner import murmur2

from bizbus.flows.runtime.kafka_config import KafkaTarget, consumer, producer
from bizbus.flows.runtime.record import Headers, RawRecord

log = logging.getLogger("bizbus.batch")

Outgoing = tuple[str, bytes | None, bytes | None, Headers]
"""A record to produce: topic, key, value, headers."""
RecordHandler = Callable[[RawRecord], Awaitable[Sequence[Outgoing]]]
"""Handles one record and returns what to produce; must not raise (dead letters are outputs)."""


@dataclass(frozen=True, slots=True)
class BatchSettings:
    """How the loop reads and writes.

    Attributes:
        max_records: Records per fetch (a batch).
        fetch_wait_ms: How long a fetch waits for records before returning fewer.
        linger_ms: How long the producer gathers records into one request.
        session_timeout_ms: Group session timeout: how soon a crashed worker's partitions move.
        instance_id: Static group membership: a restarted worker takes its partitions back at once.
    """

    max_records: int = 2000
    fetch_wait_ms: int = 50
    linger_ms: int = 5
    session_timeout_ms: int = 10_000
    instance_id: str | None = None


@lru_cache(maxsize=65_536)
def _key_hash(key: bytes) -> int:
    return int(murmur2(key)) & 0x7FFFFFFF


def cached_partitioner(key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
    """Kafka's default partitioning (murmur2 of the key), remembered per key.

    aiokafka's murmur2 is pure Python (7 µs a record), and a stage sends many events of one key
    (an order's placement, its command, its updates): the same hash, the same partition.
    """
    if key is None:
        return random.choice(available or all_partitions)  # noqa: S311 - spreading, not secrets
    return all_partitions[_key_hash(key) % len(all_partitions)]


def raw_record(record: Any) -> RawRecord:
    """Return the runtime's view of an aiokafka ConsumerRecord."""
    return RawRecord(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value,
        headers=list(record.headers or ()),
        timestamp_ms=record.timestamp,
    )


class _WaitForBatch(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    """Holds a rebalance until the batch in hand is committed; notes the assignment."""

    def __init__(self, runner: "BatchRunner") -> None:
        self._runner = runner

    async def on_partitions_revoked(self, revoked: Any) -> None:
        async with self._runner._in_hand:
            self._runner.assigned = False

    async def on_partitions_assigned(self, assigned: Any) -> None:
        log.info("batch stages assigned %d partition(s)", len(assigned))
        self._runner.assigned = True


class BatchRunner:
    """One consumer group that runs every pure stage of a worker in batches."""

    def __init__(
        self,
        kafka: KafkaTarget,
        *,
        group_id: str,
        handlers: Mapping[str, RecordHandler],
        settings: BatchSettings | None = None,
    ) -> None:
        self.kafka = kafka
        self.group_id = group_id
        self.handlers = dict(handlers)
        self.settings = settings or BatchSettings()
        self.handled = 0
        self.assigned = False  # the group gave this runner its share (possibly none)
        self._in_hand = asyncio.Lock()
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self) -> None:
        """Join the group and start the loop."""
        settings = self.settings
        self._producer = producer(
            self.kafka,
            acks="all",
            enable_idempotence=True,
            linger_ms=settings.linger_ms,
            max_batch_size=256 * 1024,
            partitioner=cached_partitioner,
        )
        self._consumer = consumer(
            self.kafka,
            group_id=self.group_id,
            group_instance_id=settings.instance_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=settings.session_timeout_ms,
            heartbeat_interval_ms=max(500, settings.session_timeout_ms // 4),
            max_partition_fetch_bytes=4 * 1024 * 1024,
            fetch_max_wait_ms=settings.fetch_wait_ms,
        )
        await self._producer.start()
        await self._consumer.start()
        self._consumer.subscribe(sorted(self.handlers), listener=_WaitForBatch(self))
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        """Let the batch in hand finish and commit, start no other, then leave the group."""
        self._stopping = True
        if self._task is not None:
            async with self._in_hand:  # a batch is short: its outputs and commit complete
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()
        if self._producer is not None:
            await self._producer.stop()

    @property
    def consumer(self) -> AIOKafkaConsumer:
        """The group's consumer (for lag metrics); raises before `start()`."""
        return self._started()[0]

    def _started(self) -> tuple[AIOKafkaConsumer, AIOKafkaProducer]:
        if self._consumer is None or self._producer is None:
            raise RuntimeError("BatchRunner.start() was not awaited")
        return self._consumer, self._producer

    async def _loop(self) -> None:
        consumer, _ = self._started()
        while True:
            batch = await consumer.getmany(
                timeout_ms=self.settings.fetch_wait_ms, max_records=self.settings.max_records
            )
            if not batch:
                continue
            async with self._in_hand:
                if self._stopping:
                    return  # fetched, not handled, not committed: read again after a restart
                try:
                    await self._process(batch)
                except KafkaError as error:  # outputs not all acked: read the batch again
                    log.warning("batch not delivered (%s); reading it again", error)
                    for tp, records in batch.items():
                        consumer.seek(tp, records[0].offset)
                    await asyncio.sleep(1.0)

    async def _process(self, batch: Mapping[TopicPartition, list[Any]]) -> None:
        consumer, producer = self._started()
        pending: list[asyncio.Future[Any]] = []
        for tp, records in batch.items():
            handle = self.handlers[tp.topic]
            for record in records:
                for topic, key, value, headers in await handle(raw_record(record)):
                    pending.append(await producer.send(topic, value, key=key, headers=headers))
        if pending:
            await asyncio.gather(*pending)
        try:
            await consumer.commit({tp: records[-1].offset + 1 for tp, records in batch.items()})
        except CommitFailedError as error:  # partitions moved; their new owner reads them again
            log.warning("batch commit refused after a rebalance: %s", error)
        self.handled += sum(len(records) for records in batch.values())
