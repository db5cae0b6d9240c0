"""Parked commands: held while reference data they need (a customer, a product) is missing.

A parked entry keeps the original command record (value and headers, so a retry is that same
event) plus what is missing (`customer:<ref>`, `product:<code>`), the reason, how often it was
tried and when it is due again (backoff doubling up to `MAX_DELAY_S`). It is retried when the
missing data is announced, and by a periodic sweep in any case; nothing is dropped.
"""

from collections.abc import Iterable, Mapping
from typing import Any

from bizbus.flows.runtime.record import RawRecord
from bizbus.schemas import Envelope, KeyRing, decode_record

__all__ = [
    "FIRST_DELAY_S",
    "MAX_DELAY_S",
    "RETRY_HEADER",
    "is_due",
    "is_retry",
    "park",
    "retry_delay",
    "retry_event",
    "summary",
    "waits_for",
]

FIRST_DELAY_S = 2.0
MAX_DELAY_S = 60.0
RETRY_HEADER = "bizbus_parked_retry"


def retry_delay(attempts: int) -> float:
    """Return the wait before the next retry after `attempts` failed ones."""
    return float(min(MAX_DELAY_S, FIRST_DELAY_S * 2 ** max(0, attempts - 1)))


def park(
    previous: Mapping[str, Any] | None,
    record: RawRecord,
    *,
    event_id: str,
    missing: Iterable[str],
    reason: str,
    now: float,
) -> dict[str, Any]:
    """Return the parked entry of `record` (attempts continue when the same event is re-parked)."""
    same = previous is not None and previous.get("event_id") == event_id
    attempts = int(previous["attempts"]) + 1 if same and previous else 1
    headers = [[k, v.decode()] for k, v in record.headers if k != RETRY_HEADER]
    return {
        "event_id": event_id,
        "missing": sorted(set(missing)),
        "reason": reason,
        "attempts": attempts,
        "parked_at": float(previous["parked_at"]) if same and previous else now,
        "next_at": now + retry_delay(attempts),
        "value": (record.value or b"").decode(),
        "headers": headers,
    }


def is_due(entry: Mapping[str, Any], now: float) -> bool:
    """True when the sweep should retry `entry` now."""
    return float(entry.get("next_at", 0)) <= now


def waits_for(entry: Mapping[str, Any], label: str) -> bool:
    """True when `entry` waits for `label` (`customer:<ref>`, `product:<code>`) or for anything."""
    missing = entry.get("missing") or []
    return label in missing or "unknown" in missing


def retry_event(
    entry: Mapping[str, Any], keys: KeyRing | None
) -> tuple[Envelope[Any], tuple[tuple[str, bytes], ...]]:
    """Return the parked command's event (the same event, same id) and its retry marker header.

    The entry keeps the record as it was on Kafka (personal fields sealed); `keys` open them.
    """
    headers = [(str(k), str(v).encode()) for k, v in entry.get("headers") or []]
    event = decode_record(str(entry["value"]).encode(), headers, keys=keys)
    return event, ((RETRY_HEADER, str(entry.get("attempts", 0)).encode()),)


def is_retry(record: RawRecord) -> bool:
    """True when `record` is a parked command re-sent by us."""
    return record.header(RETRY_HEADER) is not None


def summary(entry: Mapping[str, Any]) -> dict[str, Any]:
    """Return what people need to see about a parked entry (no payload)."""
    return {name: entry.get(name) for name in ("missing", "reason", "attempts", "parked_at")}
