"""Dead-letter holds: a key with a dead letter keeps its later events behind it, in order.

Once an event of a key is dead-lettered in a stage, that stage sends the key's later events to
the same dead-letter topic, marked held, instead of handling them out of order. Replaying the
dead letters (`bizbus dlq replay`, which marks records as replays) handles them in their order,
and the hold ends when every held one went through; `bizbus dlq release` ends it at once.

Holds live in a compacted topic every worker reads from the start and then tails (a
`CompactedMap`: key `<stage>|<record key>`, value the count of held dead letters, a tombstone
releases), so a hold follows its key's partition to whichever worker owns it after a rebalance.
"""

import asyncio
import logging
from typing import Protocol

from bizbus.flows.runtime.compacted import CompactedMap
from bizbus.flows.runtime.kafka_config import KafkaTarget

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
    """Which keys are held in which stage: a `CompactedMap` of `<stage>|<key>` → held count."""

    def __init__(self, kafka: KafkaTarget, topic: str) -> None:
        self.kafka = kafka
        self.topic = topic
        self._map = CompactedMap(kafka, topic)
        self.loaded = self._map.loaded  # set once every hold so far is read

    async def start(self) -> None:
        """Read every hold so far, then follow the topic."""
        await self._map.start()
        if held := self.held():
            log.warning("%d key(s) held behind dead letters", len(held))

    async def stop(self) -> None:
        """Stop following the topic."""
        await self._map.stop()

    def is_held(self, stage: str, key: bytes | None) -> bool:
        """Whether `key` waits behind a dead letter in `stage`."""
        return hold_key(stage, key) in self._map

    async def refresh(self) -> None:
        """Return once every hold written so far, by any worker or the CLI, is known here.

        Asked only before a record is held, so a `bizbus dlq release` just made is honoured.
        """
        await self._map.refresh()

    def held(self) -> dict[str, int]:
        """Return every hold as `stage|key` → held dead letters (for readiness and the CLI)."""
        return {
            k.decode(errors="replace"): int(v["held"]) for k, v in sorted(self._map.items().items())
        }

    async def add(self, stage: str, key: bytes | None) -> None:
        """Count one more dead letter of `key` in `stage`."""
        name = hold_key(stage, key)
        await self._write(name, self._count(name) + 1)

    async def replayed(self, stage: str, key: bytes | None) -> None:
        """One held dead letter of `key` went through on replay; release after the last."""
        name = hold_key(stage, key)
        left = self._count(name) - 1
        await self._write(name, left if left > 0 else None)

    async def release(self, stage: str, key: bytes | None) -> None:
        """End the hold of `key` in `stage` (its dead letters stay where they are)."""
        await self._write(hold_key(stage, key), None)

    def _count(self, name: bytes) -> int:
        value = self._map.get(name)
        return int(value["held"]) if value else 0

    async def _write(self, name: bytes, count: int | None) -> None:
        await self._map.put(name, None if count is None else {"held": count})
