"""Keys already handled, remembered by every worker and across restarts (webhook replay defence).

A webhook claims its dedupe keys (nonce, event id, business key) here before it publishes, and
records them once its records are acked: a `CompactedMap` (key → until when it is remembered)
that every worker reads, so a replay after a restart or to another worker finds them. A claim
lives in this worker only, to refuse a concurrent duplicate while the first is being published;
a crash between publish and record loses only the claim, and the redelivery then republishes
the same event id, which consumers treat as a duplicate.
"""

import time
from collections.abc import Callable, Iterable

from bizbus.flows.runtime.compacted import CompactedMap
from bizbus.flows.runtime.kafka_config import KafkaTarget
from bizbus.flows.settings import RuntimeSettings

__all__ = ["RETENTION_S", "SeenKeys", "seen_topic"]

SEEN_TOPIC = "webhook-seen"
RETENTION_S = 7 * 24 * 3600
"""Kafka keeps a seen key at least this long (compact+delete), a cap on any TTL asked for."""
CLAIM_S = 60.0
"""A claim not recorded or released within this is void (its request died)."""
SWEEP_EVERY = 1000


def seen_topic(settings: RuntimeSettings) -> str:
    """Return the compacted topic of the worker group's seen webhook keys."""
    return f"{settings.topic_prefix}{settings.app_id}-{SEEN_TOPIC}"


class SeenKeys:
    """A replay store (`connectors.webhooks.ReplayStore`) shared through a compacted topic.

    Args:
        kafka: The Kafka connection (or a bare bootstrap string for PLAINTEXT).
        topic: The compacted topic (`seen_topic`).
        clock: Wall clock in epoch seconds (tests move it).
    """

    def __init__(
        self, kafka: KafkaTarget, topic: str, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._map = CompactedMap(kafka, topic)
        self.loaded = self._map.loaded
        self._clock = clock
        self._claims: dict[str, float] = {}
        self._checks = 0

    async def start(self) -> None:
        """Read every key seen so far, then follow the topic."""
        await self._map.start()

    async def stop(self) -> None:
        """Stop following the topic."""
        await self._map.stop()

    async def refresh(self) -> None:
        """Return once every key recorded so far, by any worker, is known here."""
        await self._map.refresh()

    def seen(self, key: str) -> bool:
        """Whether `key` was recorded and is still remembered."""
        value = self._map.get(key.encode())
        return value is not None and float(value["until"]) > self._clock()

    def check_and_add(self, key: str) -> bool:
        """Claim `key`; False when it was recorded already or another request claims it."""
        now = self._clock()
        self._checks += 1
        if self._checks % SWEEP_EVERY == 0:
            self._sweep(now)
        claimed = self._claims.get(key)
        if self.seen(key) or (claimed is not None and now - claimed < CLAIM_S):
            return False
        self._claims[key] = now
        return True

    def _sweep(self, now: float) -> None:
        """Forget void claims and expired keys, so a long-running worker's memory stays flat."""
        self._claims = {k: at for k, at in self._claims.items() if now - at < CLAIM_S}
        for key, value in self._map.items().items():
            if float(value["until"]) <= now:
                self._map.forget(key)

    def discard(self, key: str) -> None:
        """Give up the claim of `key` (its records were not published; the sender retries)."""
        self._claims.pop(key, None)

    async def record(self, keys: Iterable[str], *, ttl_s: float) -> None:
        """Remember `keys` for `ttl_s` (`RETENTION_S` at most) in every worker, once acked."""
        until = self._clock() + min(ttl_s, RETENTION_S)
        for key in keys:
            await self._map.put(key.encode(), {"until": until})
            self._claims.pop(key, None)
