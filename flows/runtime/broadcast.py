"""Broadcast stages: every worker reads every record of their topics, from its own start on.

A stage that acts on each worker's own share of state (waking the parked orders whose table
partitions it holds) must see every record, wherever the group put that topic's partitions. Such
a stage reads outside any consumer group: all partitions, from the end at start-up (what came
before is covered by the flows' own sweeps), no offsets, no dead letters (every worker would
dead-letter the same record): a failing record is logged and the next one runs.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition

from bizbus.flows.runtime.batch_runner import raw_record
from bizbus.flows.runtime.deadletter import safe_reason
from bizbus.flows.runtime.kafka_config import KafkaTarget, admin_client, consumer
from bizbus.flows.runtime.record import RawRecord

log = logging.getLogger("bizbus.broadcast")

Handle = Callable[[RawRecord], Awaitable[None]]


class BroadcastRunner:
    """Runs broadcast stages: one group-less consumer over their topics, records in order."""

    def __init__(self, kafka: KafkaTarget, handlers: Mapping[str, list[Handle]]) -> None:
        self.kafka = kafka
        self.handlers = {topic: list(found) for topic, found in handlers.items()}
        self.started = False
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Assign every partition of the topics at their current end, then follow them."""
        admin = admin_client(self.kafka)
        await admin.start()
        try:
            described = await admin.describe_topics(sorted(self.handlers))
        finally:
            await admin.close()
        partitions = [
            TopicPartition(topic["topic"], row["partition"])
            for topic in described
            for row in topic["partitions"]
        ]
        reader = self._consumer = consumer(self.kafka, enable_auto_commit=False)
        await reader.start()
        reader.assign(partitions)
        await reader.seek_to_end(*partitions)
        for partition in partitions:
            await reader.position(partition)  # fix the start now, before records arrive
        self.started = True
        self._task = asyncio.get_running_loop().create_task(self._follow(reader))

    async def stop(self) -> None:
        """Stop following."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()

    async def _follow(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            batch = await consumer.getmany(timeout_ms=500)
            for tp, records in batch.items():
                for record in records:
                    for handle in self.handlers[tp.topic]:
                        await self._run(handle, raw_record(record))

    @staticmethod
    async def _run(handle: Handle, record: RawRecord) -> None:
        try:
            await handle(record)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - one record must not stop the others
            log.error(
                "broadcast record %s[%d]@%d failed on this worker: %s",
                record.topic, record.partition, record.offset, safe_reason(error),
            )  # fmt: skip
