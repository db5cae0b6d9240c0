"""The guard every stage runs a record in: handled, dead-lettered or held — never dropped.

faust acks an event even when the agent raises, so nothing may escape. What the guard does:
- A timeout, connection error, 5xx, 429 or rejected credentials is the system's state, not the
  record's: the system's gate (`gates.py`) holds every stage that needs it and the record is
  tried again once the system answers. It is never dead-lettered for an outage.
- A record whose calls keep failing while its system answers other calls (`gate.up` when they
  fail) is the record's problem after `attempts_while_up` tries: dead letter.
- A schema, mapping or business refusal (any other error) goes to `<topic>.dlq` with reason
  headers at once, and the key is held (`holds.py`): its later events follow it to the dead
  letters, in order, until a replay or a release.
- A Kafka error while publishing the outputs is retried with backoff (the broker, not the
  record, is at fault).
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum

from aiokafka.errors import KafkaError

from bizbus.connectors.errors import AuthError, IntegrationError, TransientError
from bizbus.connectors.registry import DIALECTS
from bizbus.flows.runtime.deadletter import dead_letter_headers, safe_reason
from bizbus.flows.runtime.gates import Gates
from bizbus.flows.runtime.holds import REPLAY_HEADER, Holds
from bizbus.flows.runtime.logs import bind_record, unbind
from bizbus.flows.runtime.record import Headers, RawRecord
from bizbus.schemas import dlq_for

log = logging.getLogger("bizbus.guard")

Handle = Callable[[RawRecord], Awaitable[None]]
"""Runs the stage's handler and delivers its outputs (publishes, table writes)."""
DeadLetterSink = Callable[[str, bytes | None, bytes | None, Headers], Awaitable[None]]
Sleep = Callable[[float], Awaitable[None]]


class HeldBehindDeadLetterError(IntegrationError):
    """An earlier event of this key is dead-lettered in this stage; this one waits behind it."""

    def __init__(self) -> None:
        super().__init__("held: an earlier event of this key is dead-lettered in this stage")


class Outcome(Enum):
    """How the guard finished with one record."""

    DONE = "done"
    DEAD_LETTERED = "dead_lettered"
    HELD = "held"


@dataclass(slots=True)
class GuardStats:
    """Counters of one stage, for metrics (`metrics.py` reads them at scrapes) and tests."""

    taken: int = 0
    emitted: int = 0
    done: int = 0
    dead_lettered: int = 0
    held: int = 0
    waits: int = 0  # failures that held the record behind its system's gate
    kafka_retries: int = 0  # publishing failed, tried again
    by_error: dict[str, int] = field(default_factory=dict)

    def count(self, error: BaseException) -> None:
        """Count one failure of the handler by its error class."""
        name = type(error).__name__
        self.by_error[name] = self.by_error.get(name, 0) + 1


def role_of(error: BaseException, systems: frozenset[str]) -> str | None:
    """Return the system (role) an error came from: its dialect's role, else the stage's one."""
    name = getattr(error, "system", None)
    if isinstance(name, str):
        dialect = DIALECTS.get(name)
        if dialect is not None:
            return dialect.role
        if name in systems:
            return name
    return next(iter(sorted(systems)), None)


class StageGuard:
    """Runs one stage's records so that each ends done, dead-lettered or held."""

    def __init__(
        self,
        stage: str,
        *,
        systems: frozenset[str],
        gates: Gates,
        holds: Holds | None,
        dead_letter: DeadLetterSink,
        attempts_while_up: int = 6,
        kafka_backoff_s: float = 1.0,
        sleep: Sleep = asyncio.sleep,
        flow: str = "",
    ) -> None:
        self.stage = stage
        self.flow = flow
        self.systems = systems
        self.gates = gates
        self.holds = holds
        self._dead_letter = dead_letter
        self.attempts_while_up = attempts_while_up
        self.kafka_backoff_s = kafka_backoff_s
        self._sleep = sleep
        self.stats = GuardStats()

    async def run(self, handle: Handle, record: RawRecord) -> Outcome:
        """Handle `record`; return once it is done, dead-lettered or held (acked either way)."""
        self.stats.taken += 1
        bound = bind_record(self.flow, self.stage, record)
        try:
            return await self._run(handle, record)
        finally:
            unbind(bound)

    async def _run(self, handle: Handle, record: RawRecord) -> Outcome:
        if self.holds is not None:
            await self.holds.loaded.wait()  # a restarted worker knows its holds before it runs
        replay = record.header(REPLAY_HEADER) is not None
        held = self.holds is not None and self.holds.is_held(self.stage, record.key)
        if held and not replay and self.holds is not None:
            await self.holds.refresh()  # a release made a moment ago lets it through
            held = self.holds.is_held(self.stage, record.key)
        if held and not replay:
            await self._send_dead_letter(record, HeldBehindDeadLetterError(), attempts=0)
            self.stats.held += 1
            return Outcome.HELD
        failures_while_up = 0
        while True:
            for system in sorted(self.systems):
                await self.gates[system].wait_up()
            try:
                await handle(record)
            except asyncio.CancelledError:
                raise
            except KafkaError as error:
                log.warning("publishing for %s failed (%s); retrying", self.stage, error)
                self.stats.kafka_retries += 1
                await self._sleep(self.kafka_backoff_s)
                continue
            except (TransientError, AuthError) as error:
                role = role_of(error, self.systems)
                self.stats.count(error)
                if role is None:  # a call to no declared system: retry with backoff only
                    failures_while_up += 1
                else:
                    gate = self.gates[role]
                    failures_while_up += gate.up
                    gate.failed(error)
                if failures_while_up < self.attempts_while_up:
                    self.stats.waits += 1
                    if role is None:
                        await self._sleep(self.kafka_backoff_s)
                    continue
                await self._send_dead_letter(
                    record, error, attempts=failures_while_up, hold=not held
                )
                return Outcome.DEAD_LETTERED
            except Exception as error:  # noqa: BLE001 - the guard's whole job is to catch all
                self.stats.count(error)
                # A replayed dead letter that fails again takes its old place: the count stays.
                await self._send_dead_letter(
                    record, error, attempts=failures_while_up + 1, hold=not held
                )
                return Outcome.DEAD_LETTERED
            for system in self.systems:
                self.gates[system].succeeded()
            if held and self.holds is not None:
                await self.holds.replayed(self.stage, record.key)
            self.stats.done += 1
            return Outcome.DONE

    async def _send_dead_letter(
        self, record: RawRecord, error: Exception, *, attempts: int, hold: bool = True
    ) -> None:
        """Write the dead letter (retrying until the broker acks it) and hold the key."""
        headers = dead_letter_headers(record, error, attempts=attempts, stage=self.stage)
        target = dlq_for(record.topic)
        log.error(
            "dead-lettering %s[%d]@%d to %s (stage %s): %s",
            record.topic, record.partition, record.offset, target, self.stage, safe_reason(error),
        )  # fmt: skip
        while True:
            try:
                await self._dead_letter(target, record.key, record.value, headers)
                if hold and self.holds is not None:
                    await self.holds.add(self.stage, record.key)
            except asyncio.CancelledError:
                raise
            except Exception as send_error:  # noqa: BLE001 - never lose the event: keep trying
                log.error(
                    "could not write dead letter to %s (%s); retrying in %.1f s",
                    target, type(send_error).__name__, self.kafka_backoff_s,
                )  # fmt: skip
                await self._sleep(self.kafka_backoff_s)
                continue
            self.stats.dead_lettered += 1
            return
