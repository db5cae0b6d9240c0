"""Answer "where is X?": every record on our topics that belongs to the same deal as X.

X may be a correlation id, a record key (CRM/ERP/OA id, order number) or any text inside an
event. Records matching X give their correlation ids; every record carrying one of those ids
is a hop. Reads topics from the start with a plain consumer (no group): fine for ops use.
"""

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import TopicPartition

from bizbus.flows.runtime import deadletter as dl
from bizbus.flows.runtime.kafka_config import KafkaTarget, admin_client, consumer

_KINDS = ("src.", "biz.", "cmd.")


@dataclass(frozen=True)
class Hop:
    """One record of a deal on one topic."""

    topic: str
    partition: int
    offset: int
    time: datetime
    event_type: str
    subject: str
    correlation_id: str
    outcome: str


def _headers(raw: list[tuple[str, bytes]]) -> dict[str, str]:
    return {k: v.decode(errors="replace") for k, v in raw}


Row = tuple[str, int, int, int, bytes, bytes, dict[str, str]]


async def read_consumer_records(
    kafka: KafkaTarget, topics: list[str], *, timeout_s: float = 60.0
) -> list[Any]:
    """Return every record of `topics` from the start to their current ends, as aiokafka has it."""
    admin = admin_client(kafka)
    await admin.start()
    try:
        described = await admin.describe_topics(topics) if topics else []
    finally:
        await admin.close()
    tps = [TopicPartition(t["topic"], p["partition"]) for t in described for p in t["partitions"]]
    if not tps:
        return []
    reader = consumer(kafka, enable_auto_commit=False)
    await reader.start()
    found: list[Any] = []
    try:
        reader.assign(tps)
        await reader.seek_to_beginning(*tps)
        end = await reader.end_offsets(tps)
        async with asyncio.timeout(timeout_s):
            while [tp for tp in tps if await reader.position(tp) < end[tp]]:
                batch = await reader.getmany(timeout_ms=300, max_records=5000)
                found += [r for records in batch.values() for r in records]
    finally:
        await reader.stop()
    return found


async def _records(kafka: KafkaTarget, topics: list[str]) -> list[Row]:
    return [
        (r.topic, r.partition, r.offset, r.timestamp, r.key or b"", r.value or b"",
         _headers(list(r.headers)))
        for r in await read_consumer_records(kafka, topics)
    ]  # fmt: skip


read_topics = _records
"""Every record of `topics` from the start: topic, partition, offset, time, key, value, headers."""


async def trace(kafka: KafkaTarget, needle: str, *, prefix: str = "") -> list[Hop]:
    """Return every hop of the deal(s) `needle` belongs to, oldest first."""
    admin = admin_client(kafka)
    await admin.start()
    try:
        names = await admin.list_topics()
    finally:
        await admin.close()
    topics = sorted(
        t for t in names if t.startswith(prefix) and t[len(prefix) :].startswith(_KINDS)
    )
    rows = await _records(kafka, topics)
    wanted = needle.encode()
    correlations = {
        headers.get("ce_correlationid", "")
        for _, _, _, _, key, value, headers in rows
        if needle in (headers.get("ce_correlationid"), headers.get("ce_subject"))
        or key == wanted
        or wanted in value
    } - {""}
    hops = [
        Hop(
            topic=topic,
            partition=partition,
            offset=offset,
            time=datetime.fromtimestamp(timestamp / 1000, UTC),
            event_type=headers.get("ce_type", "?"),
            subject=headers.get("ce_subject", key.decode(errors="replace")),
            correlation_id=headers.get("ce_correlationid", ""),
            outcome=(
                f"dead letter: {headers.get(dl.ERROR_CLASS)}: {headers.get(dl.REASON)}"
                if topic.endswith(dl.DLQ_SUFFIX)
                else "ok"
            ),
        )
        for topic, partition, offset, timestamp, key, value, headers in rows
        if headers.get("ce_correlationid") in correlations
    ]
    return sorted(hops, key=lambda hop: (hop.time, hop.topic, hop.offset))


async def find_xrefs(
    kafka: KafkaTarget, needle: str, *, changelog: str
) -> dict[str, dict[str, str]]:
    """Return the cross-reference entries (key → system ids) that mention `needle`."""
    entries: dict[str, dict[str, str]] = {}
    for *_, key, value, _ in await _records(kafka, [changelog]):
        name = orjson.loads(key) if key else ""
        entries[str(name)] = orjson.loads(value) if value else {}
    return {
        key: ids
        for key, ids in entries.items()
        if ids and (needle in key or needle in ids.values())
    }
