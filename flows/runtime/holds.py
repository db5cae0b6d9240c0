"""Dead-letter holds: a key with a dead letter keeps its later events behind it, in order.

Once an event of a key is dead-lettered in a stage, that stage sends the key's later events to
the same dead-letter topic, marked held, instead of handling them out of order. Replaying the
dead letters (`bizbus dlq replay`, which marks records as replays) handles them in their order,
and the hold ends when every held one went through; `bizbus dlq release` ends it at once.

Holds live in a compacted topic every worker reads from the start and then tails (key
`<stage>|<record key>`, value the count of held dead letters, a tombstone releases), so a hold
follows its key's partition to whichever worker owns it after a rebalance.
"""

import asyncio
import contextlib
import logging
from typing import Protocol

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bizbus.flows.runtime.kafka_config import KafkaTarget, consumer, producer

log = logging.getLogger("bizbus.holds")
REPLAY_HEADER = "bizbus_replayed_from"
"""Set by `bizbus dlq replay` on each re-sent record: `<dead-letter topic>@<offset>`."""


def hold_key(stage: str, key: bytes | None) -> bytes:
    """Return the holds topic key of `key` in `stage`."""
    return stage.encode() + b"|" + (key or b"")


class Holds(Protocol):
    """What a stage needs of the holds (a HoldStore in a worker, a fake in unit tests)."""

    loaded: asyncio.Event

    def is_held(self, stage: str, key: bytes | None) -> bool:
        """Whether `key` waits behind a dead letter in `stage`."""
        ...

    async def add(self, stage: str, key: bytes | None) -> None:
        """Count one more dead letter of `key` in `stage`."""
        ...

    async def replayed(self, stage: str, key: bytes | None) -> None:
        """One held dead letter of `key` went through on replay."""
        ...

    async def refresh(self) -> None:
        """Return once every hold written so far, by any worker or the CLI, is known here."""
        ...


class HoldStore:
    """Which keys are held in which stage: loaded at start, kept current by tailing the topic."""

    def __init__(self, kafka: KafkaTarget, topic: str) -> None:
        self.kafka = kafka
        self.topic = topic
        self._held: dict[bytes, int] = {}
        self._applied: dict[bytes, int] = {}  # offset of the latest record applied, per key
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._tail: asyncio.Task[None] | None = None
        self.loaded = asyncio.Event()  # set once every hold so far is read
        self._read_to = 0  # the offset after the last record read
        self._advanced = asyncio.Condition()

    async def start(self) -> None:
        """Read every hold so far, then follow the topic."""
        self._producer = producer(self.kafka, acks="all", enable_idempotence=True)
        await self._producer.start()
        self._consumer = consumer(self.kafka, enable_auto_commit=False)
        await self._consumer.start()
        partition = TopicPartition(self.topic, 0)
        self._consumer.assign([partition])
        await self._consumer.seek_to_beginning(partition)
        end = (await self._consumer.end_offsets([partition]))[partition]
        while await self._consumer.position(partition) < end:
            self._apply_batch(await self._consumer.getmany(partition, timeout_ms=500))
        self._read_to = end
        if self._held:
            log.warning("%d key(s) held behind dead letters", len(self._held))
        self.loaded.set()
        self._tail = asyncio.get_running_loop().create_task(self._follow(partition))

    async def stop(self) -> None:
        """Stop following the topic."""
        if self._tail is not None:
            self._tail.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tail
        for client in (self._consumer, self._producer):
            if client is not None:
                await client.stop()

    def is_held(self, stage: str, key: bytes | None) -> bool:
        """Whether `key` waits behind a dead letter in `stage`."""
        return hold_key(stage, key) in self._held

    async def refresh(self) -> None:
        """Return once every hold written so far, by any worker or the CLI, is known here.

        Asked only before a record is held, so a `bizbus dlq release` just made is honoured.
        """
        consumer = self._consumer
        if consumer is None:
            return
        partition = TopicPartition(self.topic, 0)
        end = (await consumer.end_offsets([partition]))[partition]
        async with self._advanced:
            await self._advanced.wait_for(lambda: self._read_to >= end)

    def held(self) -> dict[str, int]:
        """Return every hold as `stage|key` → held dead letters (for readiness and the CLI)."""
        return {k.decode(errors="replace"): n for k, n in sorted(self._held.items())}

    async def add(self, stage: str, key: bytes | None) -> None:
        """Count one more dead letter of `key` in `stage`."""
        name = hold_key(stage, key)
        await self._write(name, self._held.get(name, 0) + 1)

    async def replayed(self, stage: str, key: bytes | None) -> None:
        """One held dead letter of `key` went through on replay; release after the last."""
        name = hold_key(stage, key)
        left = self._held.get(name, 0) - 1
        await self._write(name, left if left > 0 else None)

    async def release(self, stage: str, key: bytes | None) -> None:
        """End the hold of `key` in `stage` (its dead letters stay where they are)."""
        await self._write(hold_key(stage, key), None)

    async def _write(self, name: bytes, count: int | None) -> None:
        if self._producer is None:
            raise RuntimeError("HoldStore.start() was not awaited")
        if count is None:
            self._held.pop(name, None)
        else:
            self._held[name] = count
        value = None if count is None else orjson.dumps({"held": count})
        written = await self._producer.send_and_wait(self.topic, value, key=name, partition=0)
        # The tail will read this write back after ours that came before it: skip those.
        self._applied[name] = max(self._applied.get(name, -1), written.offset)

    async def _follow(self, partition: TopicPartition) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        while True:
            batch = await consumer.getmany(partition, timeout_ms=1000)
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
                    self._held.pop(key, None)
                else:
                    self._held[key] = int(orjson.loads(value)["held"])
