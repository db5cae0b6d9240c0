"""Reconciliation: read both systems through their APIs and name where they disagree.

Flows carry changes; a change that never produced an event (an edit made while bizbus was
down, a message lost before bizbus existed, a record changed behind bizbus's back) leaves the
systems apart for good. A reconciler compares what each system holds now and reports each
difference as a Drift, with the corrective command that would heal it. Heals are ordinary
events published to the flows' own topics, so echo suppression, ownership and idempotent sinks
apply to them like to any other change. Nothing here knows a business.
"""

import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field

from bizbus.flows.runtime.deadletter import safe_reason
from bizbus.flows.runtime.kafka_config import KafkaTarget, producer
from bizbus.flows.runtime.metrics import FlowMetrics
from bizbus.flows.runtime.polling import correlation_id
from bizbus.flows.runtime.spec import Emit, Output, TimerHandler
from bizbus.schemas import KeyRing, Payload, encode_record, make_event, topic_for

__all__ = [
    "KINDS",
    "Drift",
    "ReconcileReport",
    "Reconciled",
    "Reconciler",
    "heal",
    "heals_of",
    "reconcile",
    "scheduled",
    "send_heals",
]

log = logging.getLogger("bizbus.reconcile")
KINDS = ("prices", "orders", "customers")
"""What `bizbus reconcile` compares, in the order it reports them."""
SHOWN = 10
"""Drifting records a scheduled run names in its log line (the CLI shows them all)."""


@dataclass(frozen=True, slots=True)
class Drift:
    """One record the two systems disagree on.

    `detail` names fields and values only where they are not personal data (prices, statuses);
    `heal` is the event that sets it right through the flows (None: nothing bizbus may send).
    """

    key: str
    issue: str
    detail: str = ""
    heal: Emit | None = None


@dataclass(frozen=True, slots=True)
class Reconciled:
    """What one reconciler found: how many records it compared and where they differ."""

    checked: int
    drifts: tuple[Drift, ...] = ()

    def merged(self, other: "Reconciled") -> "Reconciled":
        """Return both checks of one kind as one (several flows each check a part of it)."""
        return Reconciled(max(self.checked, other.checked), self.drifts + other.drifts)


Check = Callable[[], Awaitable[Reconciled]]


@dataclass(frozen=True, slots=True)
class Reconciler:
    """One kind's comparison (or part of it), offered by the flow that syncs that kind."""

    kind: str
    flow: str
    check: Check


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    """One run over several kinds: each kind's result, or why it could not be compared."""

    results: dict[str, Reconciled] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def drift_count(self) -> int:
        """Return the number of drifts over every kind."""
        return sum(len(result.drifts) for result in self.results.values())


async def reconcile(reconcilers: Sequence[Reconciler]) -> ReconcileReport:
    """Run each reconciler in turn; a system that fails costs its kind only.

    One after the other on purpose: reconciliation reads whole tables from APIs with daily
    allowances, and a background task should not burst them.
    """
    started = time.monotonic()
    report = ReconcileReport()
    for reconciler in reconcilers:
        try:
            found = await reconciler.check()
        except Exception as error:  # noqa: BLE001 - one kind failing must not hide the others
            reason = safe_reason(error)
            log.warning("reconcile %s failed: %s", reconciler.kind, reason)
            report.failures[reconciler.kind] = reason
            continue
        known = report.results.get(reconciler.kind)
        report.results[reconciler.kind] = found if known is None else known.merged(found)
    for kind in report.failures:
        report.results.pop(kind, None)  # half a kind's checks would under-report its drift
    return ReconcileReport(report.results, report.failures, time.monotonic() - started)


def heal(payload: Payload, kind: str, *, deal: str | None = None) -> Emit:
    """Return `payload` as a corrective event bizbus authors (in `deal`, else its own case)."""
    correlation = deal or correlation_id(f"reconcile-{kind}", payload.entity_key())
    event = make_event(
        payload, source=f"bizbus://reconcile/{kind}", correlationid=correlation, origin="bizbus"
    )
    return Emit(event)


def heals_of(drifts: Iterable[Drift]) -> list[Emit]:
    """Return the heal of each drift that has one, once per record and event type."""
    heals: dict[tuple[str, str], Emit] = {}
    for drift in drifts:
        if drift.heal is not None:
            heals.setdefault((drift.key, drift.heal.event.type), drift.heal)
    return list(heals.values())


def scheduled(
    reconcilers: Sequence[Reconciler],
    *,
    heal: bool,
    metrics: FlowMetrics,
    clock: Callable[[], float] = time.time,
) -> TimerHandler:
    """Return the worker's reconciliation timer: export the drift, return the heals if asked."""

    async def run() -> list[Output]:
        report = await reconcile(reconcilers)
        for kind, result in report.results.items():
            drifts = result.drifts
            metrics.reconciled(kind, checked=result.checked, drift=len(drifts), at=clock())
            if drifts:
                keys = ", ".join(f"{d.key} ({d.issue})" for d in drifts[:SHOWN])
                more = f" and {len(drifts) - SHOWN} more" if len(drifts) > SHOWN else ""
                log.warning("reconcile %s: %d of %d records drift: %s%s",
                            kind, len(drifts), result.checked, keys, more)  # fmt: skip
            else:
                log.info("reconcile %s: %d records agree", kind, result.checked)
        if not heal:
            return []
        heals = heals_of(drift for result in report.results.values() for drift in result.drifts)
        if heals:
            log.info("reconcile: sending %d corrective command(s) through the flows", len(heals))
        return list(heals)

    return run


async def send_heals(
    kafka: KafkaTarget, heals: Sequence[Emit], *, prefix: str, keys: KeyRing | None
) -> int:
    """Publish corrective commands to the flows' topics, each acknowledged; return how many.

    Personal fields are sealed with `keys` exactly as the worker seals them.
    """
    writer = producer(kafka, acks="all", enable_idempotence=True)
    await writer.start()
    try:
        for emit in heals:
            key, value, headers = encode_record(emit.event, keys=keys)
            topic = prefix + (emit.topic or topic_for(emit.event.type))
            await writer.send_and_wait(topic, value, key=key, headers=[*headers, *emit.headers])
    finally:
        await writer.stop()
    return len(heals)
