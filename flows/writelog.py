"""The write-log: what bizbus wrote where, so the source side can drop its echoes.

Key `<system>:<object>:<model code>` → per field, the hashes of the values we wrote (with when),
plus a write budget. A sink remembers a write BEFORE making it; when the change comes back from
that system's feed, a field whose value hashes like one we wrote within the TTL is our echo, and
that hash (and older ones) are consumed, so a later human edit to the same value still counts.
A record written more than `max_writes` times within `window_s` is an edit storm: the write is
refused (EditStorm → dead letter), so a loop between systems always stops.
"""

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import JsonValue

from connectors.errors import IntegrationError

__all__ = [
    "HISTORY",
    "EditStorm",
    "WriteLog",
    "consume_echoes",
    "echoed_fields",
    "has_live_writes",
    "remember_write",
    "value_hash",
    "writelog_key",
]

HISTORY = 8  # hashes kept per field: several quick writes may all still be coming back
Entry = dict[str, Any]


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
    values: Mapping[str, JsonValue],
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


def echoed_fields(
    entry: Entry | None, values: Mapping[str, JsonValue], *, now: float, ttl_s: float
) -> set[str]:
    """Return the fields of `values` holding a value we wrote within the TTL."""
    return {
        name
        for name, value in values.items()
        if any(pair[0] == value_hash(value) for pair in _live(entry, name, now, ttl_s))
    }


def consume_echoes(
    entry: Entry | None, values: Mapping[str, JsonValue], *, now: float, ttl_s: float
) -> Entry | None:
    """Return the entry once the echoes in `values` came back (None: nothing changes).

    For each echoed field the matching hash and every older one are dropped: the system has
    moved past those writes.
    """
    if not entry:
        return None
    fields = {name: _live(entry, name, now, ttl_s) for name in entry.get("fields", {})}
    changed = fields != entry.get("fields", {})
    for name, value in values.items():
        history = fields.get(name, [])
        digest = value_hash(value)
        match = next((i for i, pair in enumerate(history) if pair[0] == digest), None)
        if match is not None:
            fields[name] = history[match + 1 :]
            changed = True
    if not changed:
        return None
    return {**entry, "fields": {k: v for k, v in fields.items() if v}}


def has_live_writes(entry: Entry | None, *, now: float, ttl_s: float) -> bool:
    """True when the entry remembers any write of ours within the TTL."""
    return any(_live(entry, name, now, ttl_s) for name in (entry or {}).get("fields", {}))


@dataclass
class WriteLog:
    """The write-log over a faust table (write it inside agents only)."""

    table: Any
    ttl_s: float
    max_writes: int
    window_s: float
    clock: Callable[[], float]

    def remember(self, system: str, obj: str, record: str, values: Mapping[str, JsonValue]) -> None:
        """Log a write we are about to make (raises EditStorm past the budget)."""
        key = writelog_key(system, obj, record)
        self.table[key] = remember_write(
            self.table.get(key),
            values,
            now=self.clock(),
            ttl_s=self.ttl_s,
            max_writes=self.max_writes,
            window_s=self.window_s,
        )

    def echoes(
        self, system: str, obj: str, record: str, values: Mapping[str, JsonValue], *, own: bool
    ) -> set[str]:
        """Return which changed `values` are our echoes (read only; `consume` them after).

        `own` is the system's hint that we made the last write (client tag / write_uid); it
        decides only when the log remembers no write to this record (e.g. past the TTL).
        """
        entry = self.table.get(writelog_key(system, obj, record))
        now = self.clock()
        if not has_live_writes(entry, now=now, ttl_s=self.ttl_s):
            return set(values) if own else set()
        return echoed_fields(entry, values, now=now, ttl_s=self.ttl_s)

    def consume(self, system: str, obj: str, record: str, values: Mapping[str, JsonValue]) -> None:
        """Forget the writes whose echoes (`values`) came back, once they are handled."""
        key = writelog_key(system, obj, record)
        after = consume_echoes(self.table.get(key), values, now=self.clock(), ttl_s=self.ttl_s)
        if after is not None:
            self.table[key] = after
