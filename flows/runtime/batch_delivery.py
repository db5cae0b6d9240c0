"""The batch loop's writes: outputs produced as one record batch per partition, acks in order.

aiokafka's per-record `send` costs ~15 µs of Python a record (partitioner, accumulator, one
future each); a pure stage produces whole batches, so it appends its outputs to one record
batch per partition (C code) and submits each with `send_batch`, in the order handled, which
keeps per-key order. `InFlight` keeps the batches whose outputs are not all acked yet, oldest
first: only an acked prefix may be committed, and a failure sends the loop back to the oldest
offsets not committed (at-least-once; the sinks are idempotent).
"""

import asyncio
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import MessageSizeTooLargeError

from bizbus.flows.runtime.record import Headers

__all__ = ["Delivery", "InFlight", "Outgoing", "by_partition", "produce"]

Outgoing = tuple[str, bytes | None, bytes | None, Headers]
"""A record to produce: topic, key, value, headers."""
Partitioner = Callable[[bytes | None, list[int], list[int]], int]


def by_partition(
    outgoing: Iterable[Outgoing], partitions: Mapping[str, list[int]], partitioner: Partitioner
) -> dict[tuple[str, int], list[Outgoing]]:
    """Group `outgoing` by (topic, partition), each group in the order given (per-key order)."""
    groups: dict[tuple[str, int], list[Outgoing]] = {}
    for item in outgoing:
        topic = item[0]
        known = partitions[topic]
        target = (topic, partitioner(item[1], known, known))
        group = groups.get(target)
        if group is None:
            groups[target] = [item]
        else:
            group.append(item)
    return groups


async def produce(
    producer: AIOKafkaProducer, outgoing: Sequence[Outgoing], partitioner: Partitioner
) -> list["asyncio.Future[Any]"]:
    """Submit `outgoing` as record batches (one or more per partition); return their acks.

    Raises:
        KafkaError: The producer refused a batch (closed, failed, or its buffer stayed full).
    """
    partitions: dict[str, list[int]] = {}
    for topic in {item[0] for item in outgoing}:
        partitions[topic] = sorted(await producer.partitions_for(topic))
    acks: list[asyncio.Future[Any]] = []
    for (topic, partition), items in by_partition(outgoing, partitions, partitioner).items():
        builder = producer.create_batch()
        for _, key, value, headers in items:
            if builder.append(timestamp=None, key=key, value=value, headers=headers) is None:
                builder.close()  # full: send it, go on in a new one (same partition, in order)
                acks.append(await producer.send_batch(builder, topic, partition=partition))
                builder = producer.create_batch()
                if builder.append(timestamp=None, key=key, value=value, headers=headers) is None:
                    raise MessageSizeTooLargeError(f"a record for {topic} exceeds a batch")
        builder.close()  # a closed batch is sent at once, no linger
        acks.append(await producer.send_batch(builder, topic, partition=partition))
    return acks


@dataclass(slots=True)
class Delivery:
    """One handled batch: where it began and ended per partition, and its outputs' acks."""

    starts: dict[TopicPartition, int]
    ends: dict[TopicPartition, int]  # the next offset to read: what a commit records
    records: int
    acks: list["asyncio.Future[Any]"] = field(default_factory=list)

    def done(self) -> bool:
        """Return whether every output was acked or failed."""
        return all(ack.done() for ack in self.acks)

    def error(self) -> BaseException | None:
        """Return the first failure among the settled acks, if any."""
        for ack in self.acks:
            if ack.done() and (ack.cancelled() or ack.exception() is not None):
                return ack.exception() if not ack.cancelled() else asyncio.CancelledError()
        return None


class InFlight:
    """Handled batches whose outputs are not all acked, oldest first."""

    def __init__(self) -> None:
        self._queue: deque[Delivery] = deque()

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, delivery: Delivery) -> None:
        """Append the batch just handled."""
        self._queue.append(delivery)

    def oldest(self) -> Delivery | None:
        """Return the oldest batch in flight."""
        return self._queue[0] if self._queue else None

    def acked(self) -> tuple[dict[TopicPartition, int], int]:
        """Take the acked batches at the head; return the offsets to commit and their records.

        Stops at the first batch not done or failed: nothing after it may be committed.
        """
        offsets: dict[TopicPartition, int] = {}
        records = 0
        while self._queue and self._queue[0].done() and self._queue[0].error() is None:
            delivery = self._queue.popleft()
            offsets.update(delivery.ends)  # later batches end further on
            records += delivery.records
        return offsets, records

    async def settle(self) -> None:
        """Wait until every batch in flight is acked or failed (never raises)."""
        acks = [ack for delivery in self._queue for ack in delivery.acks]
        if acks:
            await asyncio.gather(*acks, return_exceptions=True)

    def rewind(
        self, unhandled: Mapping[TopicPartition, int] | None = None
    ) -> dict[TopicPartition, int]:
        """Forget every batch in flight; return, per partition, the first offset to read again.

        `unhandled` adds the first offsets of a batch fetched but not handled.
        """
        starts: dict[TopicPartition, int] = dict(unhandled or {})
        for delivery in self._queue:
            for tp, offset in delivery.starts.items():
                starts[tp] = min(offset, starts.get(tp, offset))
        self._queue.clear()
        return starts
