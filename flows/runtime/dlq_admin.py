"""Read, filter and replay dead letters with a plain aiokafka client (no faust, no group).

Replay re-sends the original key, value and headers to the topic the record failed on; that is
safe because every sink is idempotent. A `bizbus_replayed_from` header marks the copy. Each
replay is recorded in the replay history (`dlq_history`), so a dead letter is re-sent once, and
an event that failed `max_replays` replays goes to quarantine instead of round again.
"""

import asyncio
import time
from dataclasses import dataclass

import orjson
from aiokafka import TopicPartition

from bizbus.flows.runtime import deadletter as dl
from bizbus.flows.runtime.dlq_history import (
    HISTORY_HEADER,
    QUARANTINED_AT,
    ReplayHistory,
    event_key,
)
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
    timestamp_ms: int = 0

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

    @property
    def position(self) -> str:
        """Return where the dead letter is: `topic/partition/offset`."""
        return f"{self.topic}/{self.partition}/{self.offset}"

    @property
    def event_key(self) -> str:
        """Return the key of its event in the replay history."""
        return event_key(self.header("ce_id"), self.key, self.value)

    @property
    def failed_at_ms(self) -> int:
        """Return when it failed (the reason header; the record's time when absent)."""
        text = self.header(dl.FAILED_AT)
        return int(text) if text.isdigit() else self.timestamp_ms


@dataclass(frozen=True)
class LetterFilter:
    """Which dead letters an operator means; every criterion given must hold."""

    error_class: str | None = None
    correlation_id: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None

    def matches(self, letter: DeadLetter) -> bool:
        """True when `letter` meets every criterion given."""
        failed = letter.failed_at_ms
        return (
            (self.error_class is None or letter.header(dl.ERROR_CLASS) == self.error_class)
            and (
                self.correlation_id is None
                or letter.header("ce_correlationid") == self.correlation_id
            )
            and (self.since_ms is None or failed >= self.since_ms)
            and (self.until_ms is None or failed < self.until_ms)
        )

    @property
    def empty(self) -> bool:
        """True when no criterion is given (every dead letter matches)."""
        return self == LetterFilter()


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
    kafka: KafkaTarget,
    topic: str | None,
    *,
    prefix: str = "",
    where: LetterFilter | None = None,
    timeout_s: float = 10,
) -> list[DeadLetter]:
    """Return the records now in `topic` (None: every dead-letter topic under `prefix`).

    Oldest first per partition; only those `where` matches, when given.
    """
    tps = await _partitions(kafka, topic=topic, prefix=prefix)
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
                        DeadLetter(r.topic, r.partition, r.offset, r.key, r.value,
                                   list(r.headers), r.timestamp)
                        for r in records
                    )  # fmt: skip
        return letters if where is None else [letter for letter in letters if where.matches(letter)]
    finally:
        await reader.stop()


@dataclass(frozen=True)
class ReplayReport:
    """What a replay did with the dead letters it was given."""

    replayed: int = 0
    quarantined: int = 0
    skipped: int = 0
    """Re-sent before, or their event is in quarantine already."""


async def replay(
    kafka: KafkaTarget,
    letters: list[DeadLetter],
    *,
    history: ReplayHistory,
    quarantine: str,
    max_replays: int,
) -> ReplayReport:
    """Re-send `letters` to their source topics, recording each; quarantine repeat failures.

    A letter whose event was re-sent `max_replays` times already (and failed again, or it would
    not be here) goes to `quarantine` with its history instead. Each step is recorded once the
    broker acked the record it sent, so a crash in between at worst re-sends (sinks are
    idempotent).
    """
    writer = producer(kafka, acks="all", enable_idempotence=True)
    await writer.start()
    replayed = quarantined = skipped = 0
    try:
        for letter in letters:
            key, position = letter.event_key, letter.position
            if history.handled(key, position):
                skipped += 1
                continue
            now_ms = int(time.time() * 1000)
            if history.replay_count(key) >= max_replays:
                story = orjson.dumps({"event": key, **history.of(key)})
                headers = [
                    *letter.headers,
                    (HISTORY_HEADER, story),
                    (QUARANTINED_AT, str(now_ms).encode()),
                ]
                await writer.send_and_wait(quarantine, letter.value, key=letter.key,
                                           headers=headers)  # fmt: skip
                await history.record_quarantine(key, position=position, to=quarantine,
                                                at_ms=now_ms)  # fmt: skip
                quarantined += 1
                continue
            headers = [*dl.replay_headers(letter.headers), (REPLAY_HEADER, position.encode())]
            await writer.send_and_wait(
                letter.source_topic, letter.value, key=letter.key, headers=headers
            )
            await history.record_replay(key, position=position, to=letter.source_topic,
                                        at_ms=now_ms)  # fmt: skip
            replayed += 1
        return ReplayReport(replayed, quarantined, skipped)
    finally:
        await writer.stop()


async def read_quarantine(
    kafka: KafkaTarget, topic: str, *, timeout_s: float = 10
) -> list[DeadLetter]:
    """Return every record in the quarantine topic (dead letters with their history header)."""
    return await read_dead_letters(kafka, topic, timeout_s=timeout_s)
