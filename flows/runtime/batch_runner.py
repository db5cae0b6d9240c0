"""Pure stages as one batched aiokafka loop: fetch a batch, handle it, produce, commit when acked.

faust's per-event machinery caps a stage at 1-4k events/s (measured; notes/kafka-runtime.md),
while a raw consume→produce pipe moves ~25k/s. A stage that calls no external system and keeps
no table therefore runs here, in its own consumer group, under the worker's lifecycle: records
are handled in partition order, outputs go out as record batches (`batch_delivery.py`), and the
next batch is handled while the last one's acks are on their way; offsets are committed only up
to the newest batch whose outputs were all acked, so a crash replays at most the batches in
flight (at-least-once; sinks are idempotent). A rebalance or a stop waits for them.
"""

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

from bizbus.flows.runtime.batch_delivery import Delivery, InFlight, Outgoing, produce
from bizbus.flows.runtime.kafka_config import KafkaTarget, consumer, producer
from bizbus.flows.runtime.murmur import murmur2
from bizbus.flows.runtime.record import RawRecord

__all__ = ["BatchRunner", "BatchSettings", "Outgoing", "RecordHandler", "cached_partitioner"]

log = logging.getLogger("bizbus.batch")

RecordHandler = Callable[[RawRecord], Awaitable[Sequence[Outgoing]]]
"""Handles one record and returns what to produce; must not raise (dead letters are outputs)."""


@dataclass(frozen=True, slots=True)
class BatchSettings:
    """How the loop reads and writes.

    Attributes:
        max_records: Records per fetch (a batch).
        fetch_wait_ms: How long a fetch waits for records before returning fewer.
        linger_ms: How long the producer gathers records into one request.
        max_in_flight: Handled batches whose outputs may await their acks at once.
        commit_interval_ms: Least time between two commits (a crash replays at most this much
            more than the batches in flight; a rebalance or a stop commits at once).
        session_timeout_ms: Group session timeout: how soon a crashed worker's partitions move.
        instance_id: Static group membership: a restarted worker takes its partitions back at once.
    """

    max_records: int = 2000
    fetch_wait_ms: int = 50
    linger_ms: int = 5
    max_in_flight: int = 2
    commit_interval_ms: int = 200
    session_timeout_ms: int = 10_000
    instance_id: str | None = None


@lru_cache(maxsize=65_536)
def _key_hash(key: bytes) -> int:
    return murmur2(key) & 0x7FFFFFFF


def cached_partitioner(key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
    """Kafka's default partitioning (murmur2 of the key), remembered per key.

    A stage sends many events of one key (an order's placement, its command, its updates): the
    same hash, the same partition. A new key costs ~2 µs (`murmur.py`; aiokafka's own: ~7 µs).
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
    """Holds a rebalance until the batches in flight are acked and committed."""

    def __init__(self, runner: "BatchRunner") -> None:
        self._runner = runner

    async def on_partitions_revoked(self, revoked: Any) -> None:
        async with self._runner._in_hand:
            self._runner.assigned = False
            await self._runner._drain()

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
        self.handled = 0  # records whose outputs were acked and whose offsets were committed
        self.assigned = False  # the group gave this runner its share (possibly none)
        self._in_hand = asyncio.Lock()
        self._in_flight = InFlight()
        self._acked: dict[TopicPartition, int] = {}  # acked, not committed yet
        self._acked_records = 0
        self._committed_at = 0.0
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
        """Let the batch in hand finish, commit what was acked, start no other, leave the group."""
        self._stopping = True
        if self._task is not None:
            async with self._in_hand:  # a batch is short: its outputs go out before we stop
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None and self._producer is not None:
            async with self._in_hand:
                await self._drain()
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
        settings = self.settings
        while True:
            batch = await consumer.getmany(
                timeout_ms=settings.fetch_wait_ms, max_records=settings.max_records
            )
            if batch:  # let the fetcher ask for the next batch before this one holds the loop
                await asyncio.sleep(0)
            async with self._in_hand:
                if self._stopping:
                    return  # fetched, not handled, not committed: read again after a restart
                try:
                    if batch:
                        self._in_flight.add(await self._handle(batch))
                    await self._commit_acked(wait=len(self._in_flight) > settings.max_in_flight)
                except KafkaError as error:  # outputs not all acked: read them again
                    log.warning("batch not delivered (%s); reading it again", error)
                    await self._rewind(batch)
                    await asyncio.sleep(1.0)

    async def _handle(self, batch: Mapping[TopicPartition, list[Any]]) -> Delivery:
        """Handle a fetched batch in partition order and submit its outputs."""
        _, producer = self._started()
        outgoing: list[Outgoing] = []
        starts, ends, count = {}, {}, 0
        for tp, records in batch.items():
            handle = self.handlers[tp.topic]
            for record in records:
                outgoing += await handle(raw_record(record))
            starts[tp], ends[tp] = records[0].offset, records[-1].offset + 1
            count += len(records)
        acks = await produce(producer, outgoing, cached_partitioner) if outgoing else []
        return Delivery(starts, ends, count, acks)

    async def _commit_acked(self, *, wait: bool, now: bool = False) -> None:
        """Commit the batches acked so far; with `wait`, first wait for the oldest one's acks.

        Acked offsets are committed at most every `commit_interval_ms` (a round trip to the
        group coordinator under the batch lock is a pause of the loop), unless `now`.

        Raises:
            KafkaError: The oldest batch's outputs were not delivered.
        """
        consumer, _ = self._started()
        oldest = self._in_flight.oldest()
        if oldest is not None and oldest.acks and wait:
            await asyncio.wait(oldest.acks)
        if oldest is not None and oldest.done() and (error := oldest.error()) is not None:
            if isinstance(error, KafkaError):
                raise error
            raise KafkaError(f"output not delivered: {error!r}")
        offsets, records = self._in_flight.acked()
        self._acked.update(offsets)
        self._acked_records += records
        due = time.monotonic() - self._committed_at >= self.settings.commit_interval_ms / 1000
        if not self._acked or not (now or due):
            return
        offsets, records = self._acked, self._acked_records
        self._acked, self._acked_records = {}, 0
        self._committed_at = time.monotonic()
        try:
            await consumer.commit(offsets)
        except CommitFailedError as error:  # partitions moved; their new owner reads them again
            log.warning("batch commit refused after a rebalance: %s", error)
        self.handled += records

    async def _drain(self) -> None:
        """Wait for every batch in flight; commit the acked ones, read the others again."""
        await self._in_flight.settle()
        try:
            await self._commit_acked(wait=False, now=True)
        except KafkaError as error:
            log.warning("batch not delivered (%s); it is read again", error)
            await self._rewind(None)

    async def _rewind(self, unhandled: Mapping[TopicPartition, list[Any]] | None) -> None:
        """Wait for the batches in flight, then seek back to the oldest offsets not committed.

        The acked head is committed first; everything after it is read again, in order.
        """
        consumer, _ = self._started()
        await self._in_flight.settle()
        with contextlib.suppress(KafkaError):
            await self._commit_acked(wait=False, now=True)
        fetched = {tp: records[0].offset for tp, records in (unhandled or {}).items() if records}
        assigned = consumer.assignment()
        for tp, offset in self._in_flight.rewind(fetched).items():
            if tp in assigned:
                consumer.seek(tp, offset)
