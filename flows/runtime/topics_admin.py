"""Create every topic a worker uses before it joins its group, and wait until Kafka shows them.

A topic the group's leader cannot see in its metadata when it assigns partitions is left out of
the assignment ("Ignoring missing topic"), and nothing assigns it until the next rebalance: a
poll-ticks topic left out means no feed is ever polled. A topic the controller just created can
stay absent from a broker's metadata for a moment on a busy machine, so creating is not enough:
`ensure_topics` returns only once every topic is described with all its partitions led.
Replication follows the cluster unless set (`replication_for`): one broker lost must neither
lose an acked write nor stop writes.
"""

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bizbus.connectors.errors import ConfigError
from bizbus.flows.runtime.kafka_access import denied
from bizbus.flows.runtime.kafka_config import (
    KafkaConnection,
    KafkaTarget,
    admin_client,
    as_connection,
)
from bizbus.schemas import TOPICS

_OK = {0, 36}  # no error, TOPIC_ALREADY_EXISTS (another worker won the race)
_DENIED = {29, 31}  # TOPIC_AUTHORIZATION_FAILED, CLUSTER_AUTHORIZATION_FAILED
_NO_LEADER = -1
Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class TopicPlan:
    """A topic as the worker needs it: name, partition count and topic-level configuration."""

    name: str
    partitions: int
    config: Mapping[str, str] = field(default_factory=dict)


class TopicsNotVisibleError(ConfigError):
    """Created topics did not appear, fully led, in the cluster's metadata in time."""


@dataclass(frozen=True, slots=True)
class Replication:
    """How many copies of each partition, and how many must ack a write (acks=all)."""

    factor: int
    min_insync: int

    def topic_config(self) -> dict[str, str]:
        """Return the topic-level setting that goes with the factor."""
        return {"min.insync.replicas": str(self.min_insync)}


def replication_for(brokers: int, wanted: int | None = None) -> Replication:
    """Return the replication of new topics on a cluster of `brokers` brokers.

    Without `wanted` (BIZBUS_REPLICATION_FACTOR), min(3, brokers) copies. Three copies with two
    in sync keep acks=all writes going with a broker down and lose nothing acked; fewer copies
    accept a write with one in sync, since a cluster default of 2 would refuse every write to
    a topic with one copy.
    """
    factor = wanted if wanted is not None else max(1, min(3, brokers))
    return Replication(factor, 2 if factor >= 3 else 1)


def catalog_plans(prefix: str) -> list[TopicPlan]:
    """Return the plan of every catalog topic (and its dead-letter topic) under `prefix`."""
    return [
        TopicPlan(prefix + spec.name, spec.partitions, spec.config()) for spec in TOPICS.values()
    ]


def merge_plans(*groups: Iterable[TopicPlan]) -> list[TopicPlan]:
    """Return the plans of `groups` once per topic name (the first plan of a name wins)."""
    merged: dict[str, TopicPlan] = {}
    for group in groups:
        for plan in group:
            merged.setdefault(plan.name, plan)
    return list(merged.values())


async def ensure_topics(
    kafka: KafkaTarget,
    plans: Iterable[TopicPlan],
    *,
    replication_factor: int | Replication,
    visible_within_s: float = 120.0,
    progress: Progress | None = None,
) -> list[str]:
    """Create the planned topics that are missing, wait until all are visible; return created.

    A bare `replication_factor` leaves min.insync.replicas to the cluster's default.

    Raises:
        ConfigError: A topic could not be created (ACLs, replication factor, a bad address).
        TopicsNotVisibleError: Topics were still missing or leaderless after `visible_within_s`.
    """
    connection = as_connection(kafka)
    if isinstance(replication_factor, Replication):
        factor, extra = replication_factor.factor, replication_factor.topic_config()
    else:
        factor, extra = replication_factor, {}
    wanted = {plan.name: plan for plan in plans}
    admin = admin_client(connection, request_timeout_ms=30000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(
                plan.name,
                num_partitions=plan.partitions,
                replication_factor=factor,
                topic_configs={**extra, **plan.config},
            )
            for plan in wanted.values()
            if plan.name not in existing
        ]
        if missing:
            if progress:
                progress(f"creating {len(missing)} topic(s)")
            _raise_failures(await admin.create_topics(missing), connection)
        # A topic that existed keeps the partitions it has (an operator may have added some).
        expected = {name: 1 for name in wanted} | {
            topic.name: topic.num_partitions for topic in missing
        }
        await _wait_visible(admin, expected, visible_within_s, progress, connection)
    finally:
        await admin.close()
    return [topic.name for topic in missing]


async def _wait_visible(
    admin: AIOKafkaAdminClient,
    expected: Mapping[str, int],
    within_s: float,
    progress: Progress | None,
    connection: KafkaConnection,
) -> None:
    deadline = time.monotonic() + within_s
    pending = sorted(expected)
    while True:
        described = await admin.describe_topics(pending)
        for topic in described:
            if topic.get("error_code") in _DENIED:
                raise ConfigError(denied(connection, f"describing topic {topic.get('topic')}"))
        pending = sorted(_not_ready(described, expected))
        if not pending:
            return
        if time.monotonic() > deadline:
            shown = ", ".join(pending[:5]) + (
                f" and {len(pending) - 5} more" if len(pending) > 5 else ""
            )
            raise TopicsNotVisibleError(
                f"{len(pending)} topic(s) not visible with a leader for every partition after "
                f"{within_s:.0f} s: {shown}; check the brokers' health and logs"
            )
        if progress:
            progress(f"waiting for {len(pending)} topic(s) to appear in the cluster metadata")
        await asyncio.sleep(0.2)


def _not_ready(described: list[dict[str, Any]], expected: Mapping[str, int]) -> set[str]:
    """Return the names among `described` that are unknown, partly visible or leaderless."""
    waiting = set()
    for topic in described:
        name = str(topic.get("topic"))
        partitions = topic.get("partitions")
        rows = partitions if isinstance(partitions, list) else []
        if (
            topic.get("error_code") != 0
            or len(rows) < expected[name]
            or any(row.get("leader", _NO_LEADER) == _NO_LEADER for row in rows)
        ):
            waiting.add(name)
    return waiting


def _raise_failures(response: object, connection: KafkaConnection) -> None:
    rows = getattr(response, "topic_errors", [])
    failed = [(row[0], row[1], row[2] if len(row) > 2 else "") for row in rows if row[1] not in _OK]
    if failed:
        name, code, message = failed[0]
        if code in _DENIED:
            raise ConfigError(denied(connection, f"creating topic {name}"))
        raise ConfigError(
            f"could not create topic {name} (Kafka error {code}: {message}); check "
            "BIZBUS_KAFKA_BOOTSTRAP, BIZBUS_REPLICATION_FACTOR and the broker's ACLs"
        )
