"""Business-SLA monitors: a deal step that is late becomes an alert, cleared when it catches up.

Events on the watched `biz.*` topics → their watch steps (`rules.watch_steps`) on
`biz.ops.sla-watch`, keyed `<rule>:<record key>`, so a watch's start and end meet in one
partition → the `sla-watches` table. A sweep every `SWEEP_S` sends an `overdue` step for
each open watch past due; the watch stage then raises SlaBreachedV1 on `biz.ops.sla-alert` (a
log line names the record; the gauge `bizbus_sla_breaches` counts them), and the watch's end
raises SlaClearedV1. Alerts carry ids derived from the watch and its due time, so one raised
twice (a crash between publish and table write) is the same CloudEvent.
"""

import logging
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from bizbus.flows.context import FlowDeps
from bizbus.flows.runtime import spec
from bizbus.flows.runtime.record import RawRecord
from bizbus.flows.runtime.spec import Declaration, Emit, Output, Put, StageSpec
from bizbus.flows.shared import decode, decode_as, follow_up
from bizbus.flows.sla.rules import WATCHED_TOPICS, SlaLimits, watch_steps
from bizbus.flows.sla.watches import after_step, is_breached, is_overdue, is_stale
from bizbus.schemas import Envelope, SlaBreachedV1, SlaClearedV1, SlaStepObservedV1, make_event

log = logging.getLogger("bizbus.flows.sla")
SOURCE = "bizbus://flows/sla"
WATCH_TOPIC = "biz.ops.sla-watch"
WATCHES = spec.TableSpec("sla-watches", partitions=6)  # = biz.ops.sla-watch, which writes it
SWEEP_S = 2.0
RESEND_S = 60.0
_ALERT_IDS = uuid.UUID("6f1c0d1e-5a7b-4c1e-9a51-b10b05a1e000")  # namespace of alert ids


class SlaFlow:
    """Watches deals under the SLA rules the settings enable."""

    TABLES: ClassVar[tuple[spec.TableSpec, ...]] = (WATCHES,)

    def __init__(self, deps: FlowDeps, tables: spec.Tables | None = None) -> None:
        self.deps = deps
        self.limits = SlaLimits.of(deps.settings)
        self.watches = (tables or spec.fresh_tables(*self.TABLES))[WATCHES.name]
        self.signalled: dict[str, float] = {}  # watch key → when its sweep step was sent
        watches = self.watches
        deps.metrics.gauge(
            "bizbus_sla_breaches",
            "Business-SLA watches past due and not caught up (this worker's).",
            lambda: sum(1 for entry in list(watches.values()) if is_breached(entry)),
        )

    def declare(self) -> Declaration:
        """Return a signal stage per watched topic, the watch stage and the sweep."""
        signals = [
            StageSpec(f"sla-signals-{topic.rsplit('.', 1)[-1]}", topic, self.on_event, pure=True)
            for topic in WATCHED_TOPICS
        ]
        return Declaration(
            stages=(*signals, StageSpec("sla-watches", WATCH_TOPIC, self.on_step)),
            timers=(spec.TimerSpec("sla-sweep", SWEEP_S, self.sweep),),
            emits=(WATCH_TOPIC, "biz.ops.sla-alert"),
        )

    async def on_event(self, record: RawRecord) -> list[Output]:
        """A deal event → the watch steps it stands for (most events: none)."""
        event = decode(record, self.deps.keys)
        return [
            Emit(follow_up(step, event, source=SOURCE, origin="bizbus"))
            for step in watch_steps(event, self.limits)
        ]

    async def on_step(self, record: RawRecord) -> list[Output]:
        """Move a watch by one step; a late watch raises its alert, its end clears it."""
        event, step = decode_as(record, SlaStepObservedV1, "an SLA watch step", self.deps.keys)
        key = step.entity_key()
        entry = self.watches.get(key)
        change = after_step(entry, step)
        outputs: list[Output] = []
        if change.alert is not None:
            deal = (entry or {}).get("correlationid") or event.correlationid
            outputs.append(Emit(self._alert(change.alert, key, deal, cause=event.id)))
        if change.forget:
            outputs.append(Put(self.watches, key, None))
        elif change.entry is not None:
            if step.step == "started":
                change.entry["correlationid"] = event.correlationid
            outputs.append(Put(self.watches, key, change.entry))
        return outputs

    async def sweep(self) -> list[Output]:
        """Send an `overdue` step for each late watch and an `expired` one for each stale one.

        Only the watch stage changes the table (faust writes a table only while it handles a
        record of its partition). `self.signalled` keeps a step from being sent again while it
        is on its way, and lets it go again after `RESEND_S` in case it was lost.
        """
        now = self.deps.now()
        outputs: list[Output] = []
        noticed: dict[str, float] = {}
        for key, entry in list(self.watches.items()):
            step = "overdue" if entry and is_overdue(entry, now) else None
            step = "expired" if entry and is_stale(entry, now) else step
            if step is None:
                continue
            sent = self.signalled.get(key)
            if sent is not None and now.timestamp() - sent < RESEND_S:
                noticed[key] = sent
                continue
            noticed[key] = now.timestamp()
            outputs.append(Emit(_sweep_step(entry, step, now)))
        self.signalled = noticed
        return outputs

    def _alert(
        self, alert: SlaBreachedV1 | SlaClearedV1, key: str, deal: str, *, cause: str
    ) -> Envelope[Any]:
        if isinstance(alert, SlaBreachedV1):
            log.warning(
                "SLA %s breached: %s still awaits %s (due %s)",
                alert.rule, alert.record, alert.awaited, alert.due_at.isoformat(),
            )  # fmt: skip
            what = "raised"
        else:
            log.info(
                "SLA %s cleared: %s caught up %.0f s after its due time (%s)",
                alert.rule, alert.record, alert.late_by_s, alert.outcome,
            )  # fmt: skip
            what = "cleared"
        return make_event(
            alert, source=SOURCE, correlationid=deal, causationid=cause, origin="bizbus",
            id=_alert_id(key, alert.due_at, what),
        )  # fmt: skip


def _sweep_step(entry: Mapping[str, Any], step: str, now: datetime) -> Envelope[Any]:
    """The `overdue` or `expired` step the sweep sends for a watch's `entry`."""
    observed = SlaStepObservedV1.model_validate(
        {"rule": entry["rule"], "subject": entry["subject"], "record": entry["record"],
         "step": step, "at": now}
    )  # fmt: skip
    deal = entry.get("correlationid") or observed.entity_key()
    return make_event(observed, source=SOURCE, correlationid=deal, origin="bizbus")


def _alert_id(key: str, due_at: datetime, what: str) -> str:
    return str(uuid.uuid5(_ALERT_IDS, f"{key}|{due_at.isoformat()}|{what}"))
