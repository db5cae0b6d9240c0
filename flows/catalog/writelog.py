"""The write-log: what bizbus wrote where, so the source side can drop its echoes.

Key `<system>:<object>:<model code>` → per field, the hashes of the values we wrote (with when),
plus a write budget. A sink remembers a write BEFORE making it; when the change comes back from
that system's feed, a field whose value hashes like one we wrote within the TTL is our echo, and
that write (and older ones) are marked spent, so a later human edit to the same value counts.
A record written more than `max_writes` times within `window_s` is an edit storm: the write is
refused (EditStorm → dead letter), so a loop between systems always stops.
"""

import hashlib
import json
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from pydantic import JsonValue

from bizbus.connectors.errors import IntegrationError
from bizbus.flows.runtime.spec import Put

__all__ = [
    "HISTORY",
    "EditStorm",
    "WriteLog",
    "has_live_writes",
    "matched_writes",
    "overwritten_fields",
    "remember_write",
    "value_hash",
    "writelog_key",
]

HISTORY = 8  # hashes kept per field: several quick writes may all still be coming back
Entry = dict[str, Any]
Values = Mapping[str, JsonValue]
Marks = Mapping[str, float]
"""Per field, the time of our latest write whose echo came back (it and older ones are spent)."""


class EditStorm(IntegrationError):
    """One record was written too often within the storm window: stop writing it."""


def writelog_key(system: str, obj: str, record: str) -> str:
    """Return the write-log key of a record (`erp:product.template:HL-VMC850`)."""
    return f"{system}:{obj}:{record}"


def value_hash(value: JsonValue) -> str:
    """Return a short stable hash of a (canonical) field value."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _live(entry: Entry | None, field: str, now: float, ttl_s: float) -> list[list[Any]]:
    if not entry:
        return []
    return [pair for pair in entry.get("fields", {}).get(field, []) if now - pair[1] <= ttl_s]


def remember_write(
    entry: Entry | None,
    values: Values,
    *,
    now: float,
    ttl_s: float,
    max_writes: int,
    window_s: float,
) -> Entry:
    """Return the entry after one more write of `values`.

    Raises:
        EditStorm: This write would exceed `max_writes` within `window_s`.
    """
    start, count = (entry or {}).get("burst", (now, 0))
    if now - start > window_s:
        start, count = now, 0
    if count >= max_writes:
        raise EditStorm(
            f"edit storm: {count} writes to one record within {window_s:g} s; "
            "refusing more (replay the dead letter once it is calm)"
        )
    fields = {name: _live(entry, name, now, ttl_s) for name in (entry or {}).get("fields", {})}
    for name, value in values.items():
        fields[name] = [*fields.get(name, []), [value_hash(value), now]][-HISTORY:]
    return {"fields": {k: v for k, v in fields.items() if v}, "burst": [start, count + 1]}


def matched_writes(
    entry: Entry | None, values: Values, *, consumed: Marks, now: float, ttl_s: float
) -> dict[str, float]:
    """Return the fields of `values` holding an unseen value we wrote within the TTL, and when.

    That time is the field's mark once the echo is spent: a mark spends that write and every
    older one, so a later edit to one of their values is not mistaken for an echo.
    """
    found: dict[str, float] = {}
    for name, value in values.items():
        digest = value_hash(value)
        for written, at in _live(entry, name, now, ttl_s):
            if at > consumed.get(name, 0.0) and written == digest:
                found[name] = float(at)
                break
    return found


def overwritten_fields(
    entry: Entry | None, values: Values, *, consumed: Marks, since: float, now: float, ttl_s: float
) -> set[str]:
    """Return the fields whose latest write of ours (made after `since`) is not their value.

    Someone wrote over our write before the feed saw it: even when the value is back to what
    was seen before, it is a change (e.g. a human undoing a restored price in a storm).
    """
    found: set[str] = set()
    for name, value in values.items():
        newer = [
            pair
            for pair in _live(entry, name, now, ttl_s)
            if pair[1] > max(since, consumed.get(name, 0.0))
        ]
        if newer and newer[-1][0] != value_hash(value):
            found.add(name)
    return found


def has_live_writes(entry: Entry | None, *, now: float, ttl_s: float) -> bool:
    """True when the entry remembers any write of ours within the TTL."""
    return any(_live(entry, name, now, ttl_s) for name in (entry or {}).get("fields", {}))


@dataclass
class WriteLog:
    """The write-log over two tables (written inside stages only).

    `table` holds our writes (written by the sink stages, before each write: a write-ahead log);
    `seen` holds, per record, up to which write each field's echo came back (written by the
    source stages). Two tables, because faust keeps a table's changelog co-partitioned with the
    topics of the stages that write it.
    """

    table: MutableMapping[str, Any]
    seen: MutableMapping[str, Any]
    ttl_s: float
    max_writes: int
    window_s: float
    clock: Callable[[], float]

    def remember(self, system: str, obj: str, record: str, values: Values) -> None:
        """Log a write we are about to make (raises EditStorm past the budget)."""
        key = writelog_key(system, obj, record)
        self.table[key] = remember_write(
            self.table.get(key), values, now=self.clock(), ttl_s=self.ttl_s,
            max_writes=self.max_writes, window_s=self.window_s,
        )  # fmt: skip

    def _logged(self, system: str, obj: str, record: str) -> tuple[str, Entry | None, Marks]:
        key = writelog_key(system, obj, record)
        return key, self.table.get(key), self.seen.get(key) or {}

    def echoes(self, system: str, obj: str, record: str, values: Values, *, own: bool) -> set[str]:
        """Return which changed `values` are our echoes (read only; `consume` them after).

        `own` is the system's hint that we made the last write (client tag / write_uid); it
        decides only when the log remembers no write to this record (e.g. past the TTL).
        """
        _, entry, consumed = self._logged(system, obj, record)
        now = self.clock()
        if not has_live_writes(entry, now=now, ttl_s=self.ttl_s):
            return set(values) if own else set()
        return set(matched_writes(entry, values, consumed=consumed, now=now, ttl_s=self.ttl_s))

    def overwritten(
        self, system: str, obj: str, record: str, values: Values, *, since: float
    ) -> set[str]:
        """Return the fields of `values` where someone wrote over a write of ours since `since`."""
        _, entry, consumed = self._logged(system, obj, record)
        now, ttl_s = self.clock(), self.ttl_s
        return overwritten_fields(
            entry, values, consumed=consumed, since=since, now=now, ttl_s=ttl_s
        )

    def consume(self, system: str, obj: str, record: str, values: Values) -> list[Put]:
        """Return the write marking the writes whose echoes (`values`) came back as spent.

        Delivered after the events the echo's record led to: spent before them, a retry would
        take the echo for an edit.
        """
        key, entry, consumed = self._logged(system, obj, record)
        spent = matched_writes(entry, values, consumed=consumed, now=self.clock(), ttl_s=self.ttl_s)
        return [Put(self.seen, key, {**consumed, **spent})] if spent else []
