"""Read and replay dead letters with a plain aiokafka client (no faust, no consumer group).

Replay re-sends the original key, value and headers to the topic the record failed on; that is
safe because every sink is idempotent. A `bizbus_replayed_from` header marks the copy.
"""

import asyncio
from dataclasses import dataclass

from aiokafka import TopicPartition

from bizbus.flows.runtime import deadletter as dl
from bizbus.flows.runtime.holds import REPLAY_HEADER
from bizbus.flows.runtime.kafka_config import KafkaTarget, admin_client, consumer, producer
from bizbus.flows.runtime.record import Headers
from bizbus.schemas import DLQ_SUFFIX


@dataclass(frozen=True)
class DeadLetter:
    """One record of a dead-letter topic."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers

    def header(self, name: str) -> str:
        """Return a header decoded as text ('' when absent)."""
        for key, value in self.headers:
            if key == name:
                return value.decode(errors="replace")
        return ""

    @property
    def source_topic(self) -> str:
        """Return the topic the record failed on."""
        return self.header(dl.SOURCE_TOPIC) or self.topic.removesuffix(DLQ_SUFFIX)


async def _partitions(
    kafka: KafkaTarget, *, topic: str | None = None, prefix: str = ""
) -> list[TopicPartition]:
    """Return the partitions of `topic`, or of every dead-letter topic under `prefix`."""
    admin = admin_client(kafka)
    await admin.start()
    try:
        existing = await admin.list_topics()
        if topic is None:
            topics = sorted(t for t in existing if t.endswith(DLQ_SUFFIX) and t.startswith(prefix))
        else:
            topics = [topic] if topic in existing else []
        described = await admin.describe_topics(topics) if topics else []
    finally:
        await admin.close()
    return [
        TopicPartition(entry["topic"], partition["partition"])
        for entry in described
        for partition in sorted(entry["partitions"], key=lambda p: p["partition"])
    ]


async def list_dead_letter_topics(kafka: KafkaTarget, *, prefix: str = "") -> dict[str, int]:
    """Return every `<prefix>*.dlq` topic with the number of records it holds."""
    tps = await _partitions(kafka, prefix=prefix)
    if not tps:
        return {}
    reader = consumer(kafka, enable_auto_commit=False)
    await reader.start()
    try:
        # Assigned first, the client fetches every topic's metadata in one request; asked
        # cold, it fetches them one by one (seconds per 50 topics on a cluster with many).
        reader.assign(tps)
        begin = await reader.beginning_offsets(tps)
        end = await reader.end_offsets(tps)
    finally:
        await reader.stop()
    counts: dict[str, int] = {}
    for tp in tps:
        counts[tp.topic] = counts.get(tp.topic, 0) + end[tp] - begin[tp]
    return counts


async def read_dead_letters(
    kafka: KafkaTarget, topic: str, *, timeout_s: float = 10
) -> list[DeadLetter]:
    """Return every record currently in `topic`, oldest first per partition."""
    tps = await _partitions(kafka, topic=topic)
    if not tps:
        return []
    reader = consumer(kafka, enable_auto_commit=False)
    await reader.start()
    try:
        reader.assign(tps)
        await reader.seek_to_beginning(*tps)
        end = await reader.end_offsets(tps)
        letters: list[DeadLetter] = []
        async with asyncio.timeout(timeout_s):
            while [tp for tp in tps if await reader.position(tp) < end[tp]]:
                batch = await reader.getmany(timeout_ms=200)
                for records in batch.values():
                    letters.extend(
                        DeadLetter(r.topic, r.partition, r.offset, r.key, r.value, list(r.headers))
                        for r in records
                    )
        return letters
    finally:
        await reader.stop()


async def replay(kafka: KafkaTarget, letters: list[DeadLetter]) -> int:
    """Re-send `letters` to their source topics; return how many the broker acked."""
    writer = producer(kafka, acks="all", enable_idempotence=True)
    await writer.start()
    try:
        for letter in letters:
            origin = f"{letter.topic}/{letter.partition}/{letter.offset}".encode()
            headers = [*dl.replay_headers(letter.headers), (REPLAY_HEADER, origin)]
            await writer.send_and_wait(
                letter.source_topic, letter.value, key=letter.key, headers=headers
            )
        return len(letters)
    finally:
        await writer.stop()
