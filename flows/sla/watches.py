"""One watch's state, moved by its steps; pure, so tests need no Kafka.

An entry is `open` (waiting, `breached` once found late) or `closed` (the step arrived, or is
no longer expected). A closed entry is kept for `CLOSED_KEPT_S`, so a start that arrives after
its end (they travel on different topics) does not open a watch that can never close. The
sweep only notices (`is_overdue`, `is_stale`) and sends `overdue`/`expired` steps; each change
is made here, in the watch's own partition, in step order.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bizbus.flows.sla.rules import AWAITED
from bizbus.schemas import SlaBreachedV1, SlaClearedV1, SlaStepObservedV1

__all__ = [
    "CLOSED_KEPT_S",
    "Change",
    "Entry",
    "after_step",
    "is_breached",
    "is_overdue",
    "is_stale",
]

CLOSED_KEPT_S = 7 * 24 * 3600.0
Entry = dict[str, Any]


@dataclass(frozen=True)
class Change:
    """What a step does: the new entry (None: unchanged), forget it, and the alert it raises."""

    entry: Entry | None = None
    forget: bool = False
    alert: SlaBreachedV1 | SlaClearedV1 | None = None


def after_step(entry: Mapping[str, Any] | None, step: SlaStepObservedV1) -> Change:
    """Return what `step` does to the watch whose entry is `entry`."""
    if step.step == "started":
        if entry is not None:
            return Change()  # already open (the earliest due time holds) or already closed
        return Change({
            "state": "open", "rule": step.rule, "subject": step.subject, "record": step.record,
            "due_at": (step.due_at or step.at).isoformat(), "breached": False,
        })  # fmt: skip
    if step.step == "overdue":
        return _breach(entry, step.at) if entry and is_overdue(entry, step.at) else Change()
    if step.step == "expired":
        return Change(forget=True) if entry and is_stale(entry, step.at) else Change()
    closed = {"state": "closed", "rule": step.rule, "subject": step.subject,
              "record": step.record, "at": step.at.isoformat()}  # fmt: skip
    if not is_breached(entry) or entry is None:
        return Change(closed)
    due = datetime.fromisoformat(entry["due_at"])
    cleared = SlaClearedV1(
        rule=step.rule, subject=step.subject, record=entry["record"], due_at=due,
        cleared_at=step.at, late_by_s=max(0.0, (step.at - due).total_seconds()),
        outcome="cancelled" if step.step == "cancelled" else "done",
    )  # fmt: skip
    return Change(closed, alert=cleared)


def is_overdue(entry: Mapping[str, Any], now: datetime) -> bool:
    """True when `entry` waits past its due time and has not been reported yet."""
    return (
        entry.get("state") == "open"
        and not entry.get("breached")
        and datetime.fromisoformat(entry["due_at"]) <= now
    )


def is_breached(entry: Mapping[str, Any] | None) -> bool:
    """True when `entry` is open and reported late."""
    return bool(entry and entry.get("state") == "open" and entry.get("breached"))


def is_stale(entry: Mapping[str, Any], now: datetime) -> bool:
    """True when a closed `entry` has been kept long enough to forget."""
    if entry.get("state") != "closed":
        return False
    return datetime.fromisoformat(entry["at"]) + timedelta(seconds=CLOSED_KEPT_S) <= now


def _breach(entry: Mapping[str, Any], now: datetime) -> Change:
    breach = SlaBreachedV1(
        rule=entry["rule"], subject=entry["subject"], record=entry["record"],
        awaited=AWAITED.get(entry["rule"], "its next step"),
        due_at=datetime.fromisoformat(entry["due_at"]), breached_at=now,
    )  # fmt: skip
    return Change({**entry, "breached": True}, alert=breach)
