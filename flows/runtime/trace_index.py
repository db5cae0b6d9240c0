"""The trace index: every deal's hops, keyed by correlation id, for `bizbus trace`.

Each event the worker publishes is also written, without its payload, to
`<prefix><app id>-trace-index` with its correlation id as the key: all hops of a deal land in
one partition (the producer's default partitioner, which the reader computes too), so a trace
reads one partition of one small topic instead of every topic. When a stage's input belongs to
another correlation (a raw feed record, an ERP record joining its CRM order's deal), the input
is indexed under the output's deal as well, so the timeline starts where the change entered
bizbus. Records are kept `RETENTION_DAYS`; BIZBUS_TRACE_INDEX=false turns the index off (then
`bizbus trace --scan` still reads the topics themselves).
"""

import asyncio
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import TopicPartition

from bizbus.flows.runtime.batch_delivery import Outgoing
from bizbus.flows.runtime.batch_runner import cached_partitioner
from bizbus.flows.runtime.kafka_config import KafkaTarget, admin_client, consumer
from bizbus.flows.runtime.record import RawRecord
from bizbus.flows.runtime.spec import Emit
from bizbus.flows.runtime.topics_admin import TopicPlan
from bizbus.flows.settings import RuntimeSettings
from bizbus.schemas import Envelope, topic_for

__all__ = [
    "PARTITIONS",
    "index_plan",
    "index_topic",
    "input_hop",
    "input_links",
    "output_hop",
    "output_hops",
    "read_hops",
    "timeline",
]

INDEX = "trace-index"
PARTITIONS = 6
RETENTION_DAYS = 30


def index_topic(settings: RuntimeSettings) -> str:
    """Return the worker group's trace-index topic."""
    return f"{settings.topic_prefix}{settings.app_id}-{INDEX}"


def index_plan(settings: RuntimeSettings) -> TopicPlan:
    """Return the index topic's plan (the worker creates it with its own topics)."""
    retention = str(RETENTION_DAYS * 24 * 3600 * 1000)
    return TopicPlan(
        index_topic(settings), PARTITIONS, {"cleanup.policy": "delete", "retention.ms": retention}
    )


def output_hop(event: Envelope[Any], topic: str, *, at_ms: int | None = None) -> bytes:
    """Return the index value of an event published to `topic` (now, unless `at_ms`)."""
    return orjson.dumps(
        {
            "id": event.id,
            "type": event.type,
            "subject": event.subject,
            "origin": event.origin,
            "topic": topic,
            "at_ms": at_ms if at_ms is not None else int(time.time() * 1000),
            "cause": event.causationid,
        }
    )


def input_hop(record: RawRecord) -> bytes:
    """Return the index value of a consumed record, from its headers (no payload read)."""

    def text(name: str) -> str | None:
        raw = record.header(name)
        return None if raw is None else raw.decode(errors="replace")

    return orjson.dumps(
        {
            "id": text("ce_id"),
            "type": text("ce_type"),
            "subject": text("ce_subject"),
            "origin": text("ce_origin"),
            "topic": record.topic,
            "at_ms": record.timestamp_ms or int(time.time() * 1000),
            "cause": text("ce_causationid"),
        }
    )


def output_hops(
    index: str, emitted: Iterable[Emit], topic_name: Callable[[str], str]
) -> list[Outgoing]:
    """Return the index records of published events, each under its own deal."""
    now = int(time.time() * 1000)
    return [
        (
            index,
            emit.event.correlationid.encode(),
            output_hop(emit.event, topic_name(emit.topic or topic_for(emit.event.type)), at_ms=now),
            [],
        )
        for emit in emitted
    ]


def input_links(index: str, record: RawRecord, emitted: Iterable[Emit]) -> list[Outgoing]:
    """Return the index records of a stage's input under each other deal its outputs are in."""
    cause = record.header("ce_correlationid")
    if cause is None:
        return []
    deals = {emit.event.correlationid for emit in emitted} - {cause.decode(errors="replace")}
    if not deals:
        return []
    hop = input_hop(record)
    return [(index, deal.encode(), hop, []) for deal in sorted(deals)]


async def read_hops(
    kafka: KafkaTarget, index: str, correlation_ids: Iterable[str], *, timeout_s: float = 60
) -> dict[str, list[dict[str, Any]]]:
    """Return the indexed hops of each correlation id (oldest first), reading only its partition."""
    wanted = {deal.encode(): deal for deal in correlation_ids}
    if not wanted:
        return {}
    admin = admin_client(kafka)
    await admin.start()
    try:
        described = await admin.describe_topics([index])
    finally:
        await admin.close()
    known = [p["partition"] for entry in described for p in entry["partitions"]]
    if not known:
        return {}
    reader = consumer(kafka, enable_auto_commit=False)
    await reader.start()
    try:
        ordered = sorted(known)
        tps = sorted(
            {TopicPartition(index, cached_partitioner(key, ordered, ordered)) for key in wanted}
        )
        reader.assign(tps)
        await reader.seek_to_beginning(*tps)
        end = await reader.end_offsets(tps)
        found: dict[str, list[dict[str, Any]]] = {deal: [] for deal in wanted.values()}
        async with asyncio.timeout(timeout_s):
            while [tp for tp in tps if await reader.position(tp) < end[tp]]:
                batch = await reader.getmany(*tps, timeout_ms=500)
                for records in batch.values():
                    for item in records:
                        deal = wanted.get(item.key or b"")
                        if deal is not None and item.value:
                            found[deal].append(orjson.loads(item.value))
        return {deal: _deduplicated(hops) for deal, hops in found.items() if hops}
    finally:
        await reader.stop()


def _deduplicated(hops: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keep each event's first hop per topic (redeliveries index it again), oldest first."""
    seen: set[tuple[Any, Any]] = set()
    kept = []
    for hop in sorted(hops, key=lambda hop: hop["at_ms"]):
        mark = (hop.get("id"), hop.get("topic"))
        if mark not in seen:
            seen.add(mark)
            kept.append(hop)
    return kept


def timeline(hops: Iterable[dict[str, Any]], *, prefix: str = "") -> list[dict[str, Any]]:
    """Return hops as a deal's timeline, oldest first: system, step, time, latency since the last.

    The system is the one a hop concerns: a raw feed's or a command's system (from its topic),
    else the system that authored the event.
    """
    hops = list(hops)
    causes = {hop.get("id"): hop.get("cause") for hop in hops}

    def depth(event_id: Any) -> int:  # a hop in the same millisecond as its cause comes after it
        steps, seen = 0, {event_id}
        while (event_id := causes.get(event_id)) in causes and event_id not in seen:
            seen.add(event_id)
            steps += 1
        return steps

    rows: list[dict[str, Any]] = []
    previous: int | None = None
    for hop in sorted(hops, key=lambda hop: (hop["at_ms"], depth(hop.get("id")))):
        topic = str(hop.get("topic") or "").removeprefix(prefix)
        kind, _, rest = topic.partition(".")
        system = rest.split(".", 1)[0] if kind in ("src", "cmd") else hop.get("origin")
        step = str(hop.get("type") or "?").removeprefix("bizbus.").rsplit(".v", 1)[0]
        at_ms = int(hop["at_ms"])
        rows.append(
            {
                "time": datetime.fromtimestamp(at_ms / 1000, UTC).isoformat(
                    timespec="milliseconds"
                ),
                "system": system or "?",
                "step": step,
                "topic": topic,
                "subject": hop.get("subject"),
                "event_id": hop.get("id"),
                "latency_ms": None if previous is None else at_ms - previous,
            }
        )
        previous = at_ms
    return rows
