"""One retry policy for every call to a system, and what happens when its tries run out.

1. Per HTTP call (``HttpConnector.request``, tenacity): a TransientError or RateLimited is sent
   again up to ``BIZBUS_<ROLE>_RETRY_ATTEMPTS`` tries (default 4), never past
   ``BIZBUS_<ROLE>_RETRY_MAX_DELAY_S`` (30 s) since the first, waiting a jittered backoff or
   the system's Retry-After; then the call raises.
2. Per record (the flows' ``StageGuard``): a call that still fails marks its system down (or
   its credentials rejected). Every stage that needs the system holds, one probe (``ping``)
   retries with backoff from ``BIZBUS_RETRY_FIRST_DELAY_S`` doubling to 10 s (rejected
   credentials: every ``BIZBUS_AUTH_RETRY_DELAY_S``), and the record runs again once the
   system answers, however long the outage lasts: an outage dead-letters nothing.

Total budget of a bad record: only a call that fails while its system answers other calls
counts against the record, ``BIZBUS_RETRY_MAX_ATTEMPTS`` times (default 6), so it is sent at
most HTTP attempts x record attempts times, 4 x 6 = 24 with the defaults, before it is
dead-lettered. An AuthError is never retried by HTTP (one token refresh, then it raises).
"""

import random
from dataclasses import dataclass

from bizbus.connectors.errors import RateLimited

__all__ = ["RetryPolicy"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard one loop retries a retriable error (TransientError, RateLimited).

    Attributes:
        attempts: Tries, the first included (>= 1).
        max_delay: Give up rather than wait past this many seconds since the first try
            (None: ``attempts`` alone bounds the loop).
        initial: First backoff in seconds; doubles per try.
        max_backoff: Cap of one backoff in seconds.
        jitter: Up to this many random seconds added to each backoff, so that many workers
            retrying one outage do not hit the system in step.
        auth_hold: Seconds between tries while credentials are refused (the guard only).
    """

    attempts: int = 4
    max_delay: float | None = 30.0
    initial: float = 0.2
    max_backoff: float = 5.0
    jitter: float = 0.5
    auth_hold: float = 30.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("RetryPolicy.attempts must be >= 1")

    def delay(self, attempt: int, error: BaseException | None = None) -> float:
        """Seconds to wait after try ``attempt`` (from 1) failed with ``error``.

        The system's own ``Retry-After`` when it sent one (RateLimited), else exponential
        backoff capped at ``max_backoff`` plus up to ``jitter``.
        """
        if isinstance(error, RateLimited) and error.retry_after is not None:
            return max(0.0, float(error.retry_after))
        backoff = min(self.max_backoff, self.initial * 2.0 ** (attempt - 1))
        return backoff + random.uniform(0, self.jitter)  # noqa: S311 - jitter, not secrets

    def gives_up(self, attempt: int, *, elapsed: float, wait: float) -> bool:
        """True when try ``attempt`` was the last: no tries left, or ``wait`` ends too late."""
        late = self.max_delay is not None and elapsed + wait >= self.max_delay
        return attempt >= self.attempts or late
