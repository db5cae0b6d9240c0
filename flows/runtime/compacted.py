"""A key → JSON value map every worker shares through a one-partition compacted topic.

Each worker reads the topic from the start, then tails it; a write goes to the topic (acked)
and to the local copy at once, and the tail skips reading its own writes back over newer ones.
`refresh()` returns once every write made so far, by any worker or tool, is known here. The
dead-letter holds and the webhook replay keys are such maps.
"""

import asyncio
import contextlib
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bizbus.flows.runtime.kafka_config import KafkaTarget, consumer, producer

__all__ = ["CompactedMap"]


class CompactedMap:
    """The map in a compacted topic: loaded by `start()`, kept current by tailing the topic.

    Args:
        kafka: The Kafka connection (or a bare bootstrap string for PLAINTEXT).
        topic: The topic (one partition, compacted; created with the worker's topics).
    """

    def __init__(self, kafka: KafkaTarget, topic: str) -> None:
        self.kafka = kafka
        self.topic = topic
        self._values: dict[bytes, Any] = {}
        self._applied: dict[bytes, int] = {}  # offset of the latest record applied, per key
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._tail: asyncio.Task[None] | None = None
        self.loaded = asyncio.Event()  # set once every record so far is read
        self._read_to = 0  # the offset after the last record read
        self._advanced = asyncio.Condition()
        self._partition = TopicPartition(topic, 0)

    async def start(self) -> None:
        """Read every record so far, then follow the topic."""
        self._producer = producer(self.kafka, acks="all", enable_idempotence=True)
        await self._producer.start()
        self._consumer = consumer(self.kafka, enable_auto_commit=False)
        await self._consumer.start()
        partition = self._partition
        self._consumer.assign([partition])
        await self._consumer.seek_to_beginning(partition)
        end = (await self._consumer.end_offsets([partition]))[partition]
        while await self._consumer.position(partition) < end:
            self._apply_batch(await self._consumer.getmany(partition, timeout_ms=500))
        self._read_to = end
        self.loaded.set()
        self._tail = asyncio.get_running_loop().create_task(self._follow())

    async def stop(self) -> None:
        """Stop following the topic."""
        if self._tail is not None:
            self._tail.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tail
        for client in (self._consumer, self._producer):
            if client is not None:
                await client.stop()

    def get(self, key: bytes) -> Any:
        """Return the value of `key`, or None."""
        return self._values.get(key)

    def __contains__(self, key: bytes) -> bool:
        return key in self._values

    def items(self) -> dict[bytes, Any]:
        """Return a copy of every key and value."""
        return dict(self._values)

    def forget(self, key: bytes) -> None:
        """Drop `key` from this worker's copy only (the topic's retention drops it there)."""
        self._values.pop(key, None)

    async def put(self, key: bytes, value: Any) -> None:
        """Set `key` to `value` (None deletes it), here at once and in the topic once acked."""
        if self._producer is None:
            raise RuntimeError(f"{type(self).__name__}.start() was not awaited")
        if value is None:
            self._values.pop(key, None)
        else:
            self._values[key] = value
        data = None if value is None else orjson.dumps(value)
        written = await self._producer.send_and_wait(self.topic, data, key=key, partition=0)
        # The tail will read this write back after ours that came before it: skip those.
        self._applied[key] = max(self._applied.get(key, -1), written.offset)

    async def refresh(self) -> None:
        """Return once every record written so far, by any worker or tool, is known here.

        Before `start()` has read the topic, this waits for it.
        """
        await self.loaded.wait()
        consumer = self._consumer
        if consumer is None:
            return
        end = (await consumer.end_offsets([self._partition]))[self._partition]
        async with self._advanced:
            await self._advanced.wait_for(lambda: self._read_to >= end)

    async def _follow(self) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        while True:
            batch = await consumer.getmany(self._partition, timeout_ms=1000)
            self._apply_batch(batch)
            async with self._advanced:
                for records in batch.values():
                    if records:
                        last = int(getattr(records[-1], "offset", -1))
                        self._read_to = max(self._read_to, last + 1)
                self._advanced.notify_all()

    def _apply_batch(self, batch: dict[TopicPartition, list[object]]) -> None:
        for records in batch.values():
            for record in records:
                key = getattr(record, "key", None)
                value = getattr(record, "value", None)
                offset = int(getattr(record, "offset", -1))
                if key is None or offset <= self._applied.get(key, -1):
                    continue
                self._applied[key] = offset
                if value is None:
                    self._values.pop(key, None)
                else:
                    self._values[key] = orjson.loads(value)
