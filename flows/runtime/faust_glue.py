"""Bind the faust-agnostic runtime to faust: records, dead letters, the topics an app uses.

Records are read from faust events, dead letters are written with faust's producer, and the
topics an app will use are listed so the worker creates them before it starts.
"""

from collections.abc import Callable
from typing import Any

import faust
from mode.utils.times import want_seconds

from bizbus.flows.runtime.record import Headers, RawRecord
from bizbus.flows.runtime.topics_admin import TopicPlan


def raw_record(event: Any) -> RawRecord:
    """Return the runtime's view of a faust event read with raw key/value serializers."""
    message = event.message
    headers = message.headers or []
    if isinstance(headers, dict):
        headers = list(headers.items())
    return RawRecord(
        topic=message.topic, partition=message.partition, offset=message.offset,
        key=message.key, value=message.value,
        headers=[(str(k), bytes(v or b"")) for k, v in headers],
        timestamp_ms=int(message.timestamp * 1000) if message.timestamp else None,
    )  # fmt: skip


def app_topic_plans(app: faust.App) -> list[TopicPlan]:
    """Return every topic `app` subscribes to or keeps state in, as faust would create it.

    Agents' topics, tables' changelogs and the leader-assignor topic; creating them before the
    worker starts means the group's first assignment sees all of them.
    """
    topics: list[Any] = [agent.channel for agent in app.agents.values()]
    topics += [table.changelog_topic for table in app.tables.values()]
    leader_assignor: Any = app._leader_assignor  # faust's own topic, with no public accessor
    topics.append(leader_assignor._leader_topic)
    return [plan for topic in topics for plan in _plans(topic, app.conf.topic_partitions)]


def _plans(topic: Any, default_partitions: int) -> list[TopicPlan]:
    """Mirror faust's topic declaration: its partitions, cleanup policy and retention."""
    config: dict[str, str] = {}
    policies = sorted(
        name
        for name, wanted in (("compact", topic.compacting), ("delete", topic.deleting))
        if wanted
    )
    if policies:
        config["cleanup.policy"] = ",".join(policies)
    if topic.retention:
        config["retention.ms"] = str(int(want_seconds(topic.retention) * 1000))
    config.update({str(k): str(v) for k, v in (topic.config or {}).items()})
    partitions = topic.partitions or default_partitions
    return [TopicPlan(name, partitions, config) for name in topic.topics]


def dead_letter_sender(app: faust.App) -> Callable[..., Any]:
    """Return a sink that writes a dead letter and waits for the broker's ack."""

    async def send(topic: str, key: bytes | None, value: bytes | None, headers: Headers) -> None:
        await app.producer.send_and_wait(
            topic, key, value, partition=None, timestamp=None, headers=headers
        )

    return send
