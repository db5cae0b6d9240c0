"""How often the poller may call a system: adaptive intervals and a daily API budget.

`Cadence` is one poll unit's interval: fast after a poll that found changes, doubling after
each empty poll up to the idle interval. `ApiBudget` is a system's rolling 24 h ledger of API
calls in 5-minute slots (a slot counts until it is wholly out of the window, so the sum errs
high, never low); it says whether a poll still fits and how far apart polls must be once half
of it is spent. Both are pure (the clock is an argument); the poller keeps the ledger in its
cursor table, so a restart resumes the window instead of starting it full.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from bizbus.flows.runtime.kafka_config import KafkaTarget
from bizbus.flows.runtime.trace import read_topics

__all__ = [
    "BUDGET_KEY_PREFIX",
    "CURSOR_TABLE",
    "ApiBudget",
    "Cadence",
    "budget_key",
    "cursor_changelog",
    "read_budgets",
]

DAY_S = 86_400.0
SLOT_S = 300.0
BUDGET_KEY_PREFIX = "~budget."
CURSOR_TABLE = "poll-cursors"
PACE_FROM = 0.5  # share of the budget spent from which polls are spread over the window


def cursor_changelog(app_id: str) -> str:
    """Return the changelog topic faust keeps the poller's cursor table (and ledgers) in."""
    return f"{app_id}-{CURSOR_TABLE}-changelog"


def budget_key(system: str) -> str:
    """Return the cursor-table key of `system`'s ledger (never a feed name: those hold no ~)."""
    return f"{BUDGET_KEY_PREFIX}{system}"


@dataclass(slots=True)
class Cadence:
    """When one poll unit (a feed, or feeds read in one call) polls next.

    Attributes:
        fast_s: Interval after a poll that found changes (and the first one).
        idle_s: Longest interval, reached after successive empty polls.
        factor: Growth of the interval per empty poll.
        interval_s: The interval in force.
        due: Monotonic time of the next poll (0: at once).
    """

    fast_s: float
    idle_s: float
    factor: float = 2.0
    interval_s: float = field(default=0.0)
    due: float = 0.0

    def __post_init__(self) -> None:
        self.idle_s = max(self.idle_s, self.fast_s)
        self.interval_s = self.interval_s or self.fast_s

    def is_due(self, now: float) -> bool:
        """True when the unit should poll at `now`."""
        return now >= self.due

    def polled(self, now: float, *, found: bool) -> None:
        """Schedule the next poll after one that found changes (`found`) or nothing."""
        if found:
            self.interval_s = self.fast_s
        else:
            self.interval_s = min(self.idle_s, self.interval_s * self.factor)
        self.due = now + self.interval_s

    def hurry(self, now: float) -> None:
        """Poll fast again from now (a push hint, or a write we made to the system)."""
        self.interval_s = self.fast_s
        self.due = min(self.due, now)


@dataclass(slots=True)
class ApiBudget:
    """A system's API calls over a rolling 24 h window, against an optional daily limit.

    Attributes:
        limit: Calls allowed per rolling 24 h (None: unlimited, still counted).
        slots: Calls per 5-minute slot (slot number = wall time // SLOT_S).
    """

    limit: int | None = None
    slots: dict[int, int] = field(default_factory=dict)

    def record(self, now: float, calls: int) -> None:
        """Count `calls` made at wall time `now` and forget slots out of the window."""
        if calls <= 0:
            return
        slot = int(now // SLOT_S)
        self.slots[slot] = self.slots.get(slot, 0) + calls
        oldest = self._oldest(now)
        for old in [s for s in self.slots if s < oldest]:
            del self.slots[old]

    def _oldest(self, now: float) -> int:
        # A slot [s, s + SLOT_S) counts while any part of it lies within the last 24 h.
        return math.floor((now - DAY_S) / SLOT_S)

    def spent(self, now: float) -> int:
        """Calls counted within the last 24 h (rounded up to whole slots)."""
        oldest = self._oldest(now)
        return sum(calls for slot, calls in self.slots.items() if slot >= oldest)

    def allows(self, now: float, calls: int = 1) -> bool:
        """True when `calls` more calls stay within the limit."""
        return self.limit is None or self.spent(now) + calls <= self.limit

    def pace_s(self, now: float) -> float:
        """Seconds to leave per call before the next poll: 0 below half the budget.

        From half spent on, the calls left are spread evenly over a whole window, so polling
        slows as the budget runs down and never runs dry before old slots free calls again.
        """
        if self.limit is None:
            return 0.0
        spent = self.spent(now)
        if spent < PACE_FROM * self.limit:
            return 0.0
        left = self.limit - spent
        return math.inf if left <= 0 else DAY_S / left

    def frees_at(self, now: float) -> float:
        """Wall time at which the oldest counted slot leaves the window."""
        oldest = self._oldest(now)
        counted = [slot for slot in self.slots if slot >= oldest]
        return (min(counted) + 1) * SLOT_S + DAY_S if counted else now

    def to_json(self) -> dict[str, Any]:
        """The ledger as stored in the cursor table (JSON keys are text)."""
        return {"slots": {str(slot): calls for slot, calls in self.slots.items()}}

    @classmethod
    def from_json(cls, stored: Any, *, limit: int | None) -> "ApiBudget":
        """Rebuild a ledger written by `to_json` (anything else: an empty ledger)."""
        slots = stored.get("slots") if isinstance(stored, Mapping) else None
        if not isinstance(slots, Mapping):
            return cls(limit=limit)
        return cls(
            limit=limit,
            slots={int(s): int(c) for s, c in slots.items() if str(s).lstrip("-").isdigit()},
        )


async def read_budgets(kafka: KafkaTarget, *, changelog: str) -> dict[str, ApiBudget]:
    """Return each system's ledger as the poller last stored it (the cursor table's changelog)."""
    found: dict[str, ApiBudget] = {}
    for *_, key, value, _ in await read_topics(kafka, [changelog]):
        name = orjson.loads(key) if key else ""
        if isinstance(name, str) and name.startswith(BUDGET_KEY_PREFIX):
            stored = orjson.loads(value) if value else None
            found[name.removeprefix(BUDGET_KEY_PREFIX)] = ApiBudget.from_json(stored, limit=None)
    return found
