"""A per-system async rate budget: a token bucket (calls/s + burst) that a 429 can pause.

One budget per connector instance keeps a worker under the vendor's quota (e.g. Feishu instance
detail 50/s, Odoo Online fair use) instead of discovering it through 429 answers.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable

__all__ = ["RateBudget"]

# Float refills land a hair under a whole token; without slack the wait loop would spin.
_SLACK = 1e-9


class RateBudget:
    """Token bucket shared by every call of one connector.

    Args:
        rate: Sustained calls per second (> 0).
        burst: Calls allowed back to back after an idle period; defaults to ``max(1, rate)``.
        clock: Monotonic clock in seconds (injectable for tests).
        sleep: Async sleep (injectable for tests).
    """

    def __init__(
        self,
        rate: float,
        burst: int | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be > 0 calls per second")
        self.rate = rate
        self.burst = burst if burst is not None else max(1, int(rate))
        if self.burst < 1:
            raise ValueError("burst must be >= 1")
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(self.burst)
        self._updated = clock()
        self._paused_until = 0.0
        self._lock = asyncio.Lock()

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
        self._updated = now

    async def acquire(self) -> None:
        """Wait until one call fits in the budget, then take it (callers queue fairly)."""
        async with self._lock:
            while True:
                now = self._clock()
                if now < self._paused_until:
                    await self._sleep(self._paused_until - now)
                    continue
                self._refill(now)
                if self._tokens >= 1.0 - _SLACK:
                    self._tokens = max(0.0, self._tokens - 1.0)
                    return
                await self._sleep((1.0 - self._tokens) / self.rate)

    def pause(self, seconds: float) -> None:
        """Stop handing out calls for ``seconds`` (the system answered 429 with Retry-After)."""
        if seconds > 0:
            self._paused_until = max(self._paused_until, self._clock() + seconds)
            self._tokens = 0.0
            self._updated = self._clock()
