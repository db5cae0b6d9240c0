"""What became of each dead-lettered event: its replays, and its quarantine once it kept failing.

The history lives in a compacted topic keyed by event (`ce_id`; a digest of key and value for a
record without one): every dead letter re-sent, when, and to where. A dead letter whose event
already failed `max_replays` replays is not re-sent again: it goes to the quarantine topic with
its history in a header, for people to look at. Both topics belong to the worker group
(`<prefix><app id>-dead-letter-replays`, `...-dead-letter-quarantine`), like its holds.
"""

import hashlib
from typing import Any

from bizbus.flows.runtime.compacted import CompactedMap
from bizbus.flows.runtime.kafka_config import KafkaTarget, admin_client
from bizbus.flows.runtime.topics_admin import TopicPlan
from bizbus.flows.settings import RuntimeSettings

__all__ = [
    "HISTORY_HEADER",
    "QUARANTINED_AT",
    "ReplayHistory",
    "event_key",
    "history_plans",
    "quarantine_topic",
    "replays_topic",
]

REPLAYS = "dead-letter-replays"
QUARANTINE = "dead-letter-quarantine"
HISTORY_HEADER = "bizbus_replay_history"
"""On a quarantined record: its event's history as JSON."""
QUARANTINED_AT = "bizbus_quarantined_at_ms"
_QUARANTINE_RETENTION_MS = 90 * 24 * 3600 * 1000  # kept for people: longer than dead letters


def replays_topic(settings: RuntimeSettings) -> str:
    """Return the compacted topic of the worker group's replay history."""
    return f"{settings.topic_prefix}{settings.app_id}-{REPLAYS}"


def quarantine_topic(settings: RuntimeSettings) -> str:
    """Return the topic events that failed too many replays are moved to."""
    return f"{settings.topic_prefix}{settings.app_id}-{QUARANTINE}"


def history_plans(settings: RuntimeSettings) -> list[TopicPlan]:
    """Return the plans of both topics (the worker creates them with its own)."""
    return [
        TopicPlan(replays_topic(settings), 1, {"cleanup.policy": "compact"}),
        TopicPlan(
            quarantine_topic(settings),
            1,
            {"cleanup.policy": "delete", "retention.ms": str(_QUARANTINE_RETENTION_MS)},
        ),
    ]


def event_key(event_id: str, key: bytes | None, value: bytes | None) -> str:
    """Return the history key of an event: its id, else a digest of what it carries."""
    if event_id:
        return event_id
    digest = hashlib.sha256(b"%d:" % len(key or b"") + (key or b"") + (value or b""))
    return "sha256:" + digest.hexdigest()[:32]


class ReplayHistory:
    """The replay history of a worker group, read from (and written to) its compacted topic."""

    def __init__(self, kafka: KafkaTarget, topic: str) -> None:
        self.kafka = kafka
        self.topic = topic
        self._map: CompactedMap | None = None

    async def start(self) -> None:
        """Load the history; a group that never replayed anything has no topic yet: empty."""
        admin = admin_client(self.kafka)
        await admin.start()
        try:
            exists = self.topic in await admin.list_topics()
        finally:
            await admin.close()
        if exists:
            self._map = CompactedMap(self.kafka, self.topic)
            await self._map.start()

    async def stop(self) -> None:
        """Stop following the topic."""
        if self._map is not None:
            await self._map.stop()

    def of(self, key: str) -> dict[str, Any]:
        """Return the history of an event: `replays` (list) and `quarantined` (or None)."""
        found = self._map.get(key.encode()) if self._map is not None else None
        return found or {"replays": [], "quarantined": None}

    def replay_count(self, key: str) -> int:
        """Return how many times the event was re-sent."""
        return len(self.of(key)["replays"])

    def handled(self, key: str, position: str) -> bool:
        """True when this dead letter was re-sent already, or its event is quarantined."""
        history = self.of(key)
        return bool(history["quarantined"]) or any(
            replay["letter"] == position for replay in history["replays"]
        )

    async def record_replay(self, key: str, *, position: str, to: str, at_ms: int) -> None:
        """Record that the dead letter at `position` was re-sent to `to`."""
        history = self.of(key)
        replays = [*history["replays"], {"letter": position, "to": to, "at_ms": at_ms}]
        await self._put(key, {**history, "replays": replays})

    async def record_quarantine(self, key: str, *, position: str, to: str, at_ms: int) -> None:
        """Record that the event's dead letter at `position` was moved to quarantine `to`."""
        history = self.of(key)
        quarantined = {"letter": position, "to": to, "at_ms": at_ms}
        await self._put(key, {**history, "quarantined": quarantined})

    async def _put(self, key: str, value: dict[str, Any]) -> None:
        if self._map is None:
            raise RuntimeError(f"{self.topic} does not exist: create it before replaying")
        await self._map.put(key.encode(), value)
