"""The per-event guard every agent runs its handler in: nothing escapes it.

faust acks an event even when the agent raises, so an escaped exception would lose the event.
The guard retries retriable errors in place (keeping per-key order), holds the partition while
credentials are rejected (AuthError: loud, never dead-lettered), and sends everything else to
`<topic>.dlq` with reason headers, waiting for the broker's ack before moving on.
"""

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum

from bizbus.connectors.errors import AuthError, RateLimited
from bizbus.flows.runtime.deadletter import dead_letter_headers, safe_reason
from bizbus.flows.runtime.record import Headers, RawRecord
from bizbus.schemas import dlq_for

log = logging.getLogger("bizbus.guard")

Handler = Callable[[RawRecord], Awaitable[None]]
DeadLetterSink = Callable[[str, bytes | None, bytes | None, Headers], Awaitable[None]]
Sleep = Callable[[float], Awaitable[None]]


class Outcome(Enum):
    """How the guard finished with one event."""

    DONE = "done"
    DEAD_LETTERED = "dead_lettered"


@dataclass(frozen=True)
class RetryPolicy:
    """How long to retry in place before a retriable failure becomes a dead letter."""

    max_attempts: int = 6
    first_delay_s: float = 0.2
    max_delay_s: float = 10.0
    auth_delay_s: float = 30.0

    def delay(self, attempt: int, error: BaseException) -> float:
        """Return the jittered backoff before attempt `attempt + 1` (RateLimited: its wait)."""
        if isinstance(error, RateLimited) and error.retry_after is not None:
            return max(0.0, float(error.retry_after))
        ceiling = min(self.max_delay_s, self.first_delay_s * 2.0 ** (attempt - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter only


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
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self.stats = GuardStats()

    async def run(self, handler: Handler, record: RawRecord) -> Outcome:
        """Handle `record`; return DONE, or DEAD_LETTERED once the dead letter is acked."""
        attempt = 0
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
                    self.policy.auth_delay_s,
                )  # fmt: skip
                await self._sleep(self.policy.auth_delay_s)
                attempt = 0
                continue
            except Exception as error:  # noqa: BLE001 - the guard's whole job is to catch all
                name = type(error).__name__
                self.stats.by_error[name] = self.stats.by_error.get(name, 0) + 1
                if getattr(error, "retriable", False) and attempt < self.policy.max_attempts:
                    self.stats.retries += 1
                    delay = self.policy.delay(attempt, error)
                    log.warning(
                        "retrying %s[%d]@%d in %.2f s (attempt %d/%d): %s",
                        record.topic, record.partition, record.offset, delay, attempt,
                        self.policy.max_attempts, safe_reason(error),
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
        delay = self.policy.first_delay_s
        while True:
            try:
                await self._dead_letter(target, record.key, record.value, headers)
            except asyncio.CancelledError:
                raise
            except Exception as send_error:  # noqa: BLE001 - never lose the event: keep trying
                log.error(
                    "could not write dead letter to %s (%s); retrying in %.1f s",
                    target, type(send_error).__name__, delay,
                )  # fmt: skip
                await self._sleep(delay)
                delay = min(self.policy.max_delay_s, delay * 2)
                continue
            self.stats.dead_lettered += 1
            return
