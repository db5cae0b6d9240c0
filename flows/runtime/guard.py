"""The per-event guard every agent runs its handler in: nothing escapes it.

faust acks an event even when the agent raises, so an escaped exception would lose the event.
The guard retries retriable errors in place (keeping per-key order), holds the partition while
credentials are rejected (AuthError: loud, never dead-lettered), and sends everything else to
`<topic>.dlq` with reason headers, waiting for the broker's ack before moving on. Its tries
multiply the connectors' own HTTP retries: `bizbus.connectors.retry` states the total budget.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum

from bizbus.connectors.errors import AuthError
from bizbus.connectors.retry import RetryPolicy
from bizbus.flows.runtime.deadletter import dead_letter_headers, safe_reason
from bizbus.flows.runtime.record import Headers, RawRecord
from bizbus.schemas import dlq_for

log = logging.getLogger("bizbus.guard")

Handler = Callable[[RawRecord], Awaitable[None]]
DeadLetterSink = Callable[[str, bytes | None, bytes | None, Headers], Awaitable[None]]
Sleep = Callable[[float], Awaitable[None]]


# In place: 6 tries, 0.2 s doubling up to 10 s, no time cap (each try's HTTP calls have theirs).
GUARD_POLICY = RetryPolicy(attempts=6, max_delay=None, initial=0.2, max_backoff=10.0)


class Outcome(Enum):
    """How the guard finished with one event."""

    DONE = "done"
    DEAD_LETTERED = "dead_lettered"


@dataclass
class GuardStats:
    """Counters for metrics and tests."""

    done: int = 0
    retries: int = 0
    dead_lettered: int = 0
    auth_waits: int = 0
    by_error: dict[str, int] = field(default_factory=dict)


class EventGuard:
    """Runs handlers so that each event ends done or dead-lettered, never dropped."""

    def __init__(
        self,
        dead_letter: DeadLetterSink,
        *,
        policy: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._dead_letter = dead_letter
        self.policy = policy or GUARD_POLICY
        self._sleep = sleep
        self.stats = GuardStats()

    async def run(self, handler: Handler, record: RawRecord) -> Outcome:
        """Handle `record`; return DONE, or DEAD_LETTERED once the dead letter is acked."""
        attempt = 0
        started = time.monotonic()
        while True:
            attempt += 1
            try:
                await handler(record)
            except asyncio.CancelledError:
                raise
            except AuthError as error:
                self.stats.auth_waits += 1
                log.error(
                    "credentials rejected while handling %s[%d]@%d: %s; holding this partition "
                    "and retrying in %.0f s (fix the connector's credentials)",
                    record.topic, record.partition, record.offset, safe_reason(error),
                    self.policy.auth_hold,
                )  # fmt: skip
                await self._sleep(self.policy.auth_hold)
                attempt, started = 0, time.monotonic()
                continue
            except Exception as error:  # noqa: BLE001 - the guard's whole job is to catch all
                name = type(error).__name__
                self.stats.by_error[name] = self.stats.by_error.get(name, 0) + 1
                delay = self.policy.delay(attempt, error)
                elapsed = time.monotonic() - started
                if getattr(error, "retriable", False) and not self.policy.gives_up(
                    attempt, elapsed=elapsed, wait=delay
                ):
                    self.stats.retries += 1
                    log.warning(
                        "retrying %s[%d]@%d in %.2f s (attempt %d/%d): %s",
                        record.topic, record.partition, record.offset, delay, attempt,
                        self.policy.attempts, safe_reason(error),
                    )  # fmt: skip
                    await self._sleep(delay)
                    continue
                await self._send_dead_letter(record, error, attempt)
                return Outcome.DEAD_LETTERED
            self.stats.done += 1
            return Outcome.DONE

    async def _send_dead_letter(self, record: RawRecord, error: Exception, attempts: int) -> None:
        headers = dead_letter_headers(record, error, attempts=attempts)
        target = dlq_for(record.topic)
        log.error(
            "dead-lettering %s[%d]@%d to %s after %d attempt(s): %s",
            record.topic, record.partition, record.offset, target, attempts, safe_reason(error),
        )  # fmt: skip
        tries = 0
        while True:
            tries += 1
            try:
                await self._dead_letter(target, record.key, record.value, headers)
            except asyncio.CancelledError:
                raise
            except Exception as send_error:  # noqa: BLE001 - never lose the event: keep trying
                delay = self.policy.delay(tries)
                log.error(
                    "could not write dead letter to %s (%s); retrying in %.1f s",
                    target, type(send_error).__name__, delay,
                )  # fmt: skip
                await self._sleep(delay)
                continue
            self.stats.dead_lettered += 1
            return
