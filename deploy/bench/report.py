"""Medians over rounds, each figure beside its baseline: a table for people, JSON for tools.

A ratio is the median of the per-round ratios (each round's figure over the baseline measured
in that same round), which cancels more of the machine's drift than a ratio of medians.
"""

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Protocol

from rich import box
from rich.table import Table

__all__ = ["FIGURES", "Figure", "Results"]

Values = dict[str, float]


@dataclass(frozen=True)
class Figure:
    """One reported figure: its id, what it measures and its baseline (a sample id)."""

    id: str
    title: str
    baseline: str | None = None
    baseline_title: str = ""
    ratio_of: str | None = None  # the value whose per-round ratio to the baseline is reported
    short: str = ""  # its label in the table


FIGURES = (
    Figure("C0", "raw aiokafka consume → produce pipe", short="raw aiokafka pipe"),
    Figure("P1", "stage sales-order-requests in a bizbus worker", "C0", "C0", "events_per_s",
           short="sales-order-requests, worker"),
    Figure("H0", "raw httpx, the sink's calls, ERP +latency"),
    Figure("P2", "stage erp-sales-orders in a bizbus worker", "H0", "H0", "calls_per_s",
           short="erp-sales-orders, worker"),
    Figure("P3", "per-hop latency of P1's stage at half its rate", "P3.base", "raw pipe"),
    Figure("P4", "backlog catch-up; SIGKILL → first output again", "P4.base", "raw pipe",
           "catch_up_events_per_s"),
    Figure("I", "idle API calls per day at the default poll settings; CRM change → Kafka",
           short="idle API calls/day, CRM"),
    Figure("C", "CRM and ERP on push (Change Data Capture, Odoo webhooks): idle API calls "
           "per day; CRM change → Kafka", short="idle API calls/day, CRM on push"),
)  # fmt: skip


def _per_system(idle: Values) -> dict[str, float]:
    """The idle API calls per day of each system an idle figure counted."""
    return {
        system: idle[f"idle_calls_per_day_{system}"]
        for system in ("crm", "erp", "oa")
        if f"idle_calls_per_day_{system}" in idle
    }


def _median(rounds: list[Values]) -> Values:
    keys = dict.fromkeys(key for values in rounds for key in values)
    return {key: statistics.median(v[key] for v in rounds if key in v) for key in keys}


@dataclass
class Results:
    """Per-round values of every figure and baseline, and the run's settings."""

    meta: dict[str, Any]
    samples: dict[str, list[Values]] = field(default_factory=lambda: defaultdict(list))

    def add(self, sample_id: str, values: Values) -> None:
        """Record one round's values of a figure or baseline."""
        self.samples[sample_id].append(values)

    def median(self, sample_id: str) -> Values:
        """Return the median of each value over the rounds."""
        return _median(self.samples.get(sample_id, []))

    def ratio(self, figure: Figure) -> float | None:
        """Return the median per-round ratio of `figure` to its baseline, when it has one."""
        if figure.baseline is None or figure.ratio_of is None:
            return None
        pairs = zip(self.samples.get(figure.id, []), self.samples.get(figure.baseline, []),
                    strict=False)  # fmt: skip
        ratios = [
            mine[figure.ratio_of] / base[figure.ratio_of]
            for mine, base in pairs
            if base.get(figure.ratio_of) and figure.ratio_of in mine
        ]
        return statistics.median(ratios) if ratios else None

    def as_json(self) -> dict[str, Any]:
        """Return `{"bench": settings, "<id>": {values, ratio, baseline, rounds}}`."""
        report: dict[str, Any] = {"bench": self.meta}
        for figure in FIGURES:
            if figure.id not in self.samples:
                continue
            entry: dict[str, Any] = {"title": figure.title, **self.median(figure.id)}
            if figure.id == "P2":
                entry["order_kept"] = all(v["order_kept"] for v in self.samples["P2"])
            ratio = self.ratio(figure)
            if ratio is not None:
                entry["ratio"] = ratio
            if figure.baseline is not None and figure.baseline in self.samples:
                entry["baseline"] = {"id": figure.baseline_title, **self.median(figure.baseline)}
                entry["baseline"]["rounds"] = self.samples[figure.baseline]
            entry["rounds"] = self.samples[figure.id]
            report[figure.id] = entry
        if "I" in self.samples:
            report["idle_calls_per_day"] = _per_system(self.median("I"))
        if "C" in self.samples:
            pushed = self.median("C")
            report["idle_calls_per_day_push"] = _per_system(pushed)
            report["cdc_p50_ms"] = pushed["crm_change_to_kafka_ms"]
        return report

    def table(self) -> Table:
        """Return the figures as a table: median (min-max over rounds), baseline, ratio."""
        meta = self.meta
        table = Table(
            title=f"bizbus bench: medians of {meta.get('rounds', 1)} round(s), (min-max)",
            box=box.SIMPLE_HEAD,
        )
        for column in ("id", "what", "figure", "baseline", "ratio"):
            table.add_column(column, no_wrap=True, justify="right" if column == "ratio" else "left")
        sizes = meta.get("sizes", {})
        labels = {
            "H0": f"raw httpx, ERP +{meta.get('erp_latency_ms', 0):g} ms, "
            f"C={meta.get('concurrency', 1)}",
            "P3": "latency, half P1's rate",
            "P4": f"catch-up, half of a {sizes.get('backlog', 0):,} backlog",
        }
        for figure in FIGURES:
            mine = self.samples.get(figure.id)
            if not mine:
                continue
            base = self.samples.get(figure.baseline or "", [])
            ratio = self.ratio(figure)
            rows = _ROWS.get(figure.id, [("", _rate("events_per_s", "events/s"))])
            for number, (what, show) in enumerate(rows):
                shown_ratio = ratio is not None and number == 0
                table.add_row(
                    figure.id,
                    what or labels.get(figure.id, figure.short),
                    show(mine),
                    f"{figure.baseline_title} {show(base, spread=False)}" if base else "",
                    f"{ratio:.2f}" if shown_ratio else "",
                )
        return table


class Show(Protocol):
    """Renders one figure's rounds as a table cell (with their min-max spread, or not)."""

    def __call__(self, rounds: list[Values], *, spread: bool = True) -> str: ...


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.1f}"


def _spread(rounds: list[Values], key: str, *, shown: bool = True) -> str:
    values = [v[key] for v in rounds if key in v]
    if len(values) < 2 or not shown:
        return ""
    return f" ({_number(min(values))}-{_number(max(values))})"


def _rate(key: str, unit: str) -> Show:
    def show(rounds: list[Values], *, spread: bool = True) -> str:
        median = _median(rounds).get(key, 0.0)
        return f"{_number(median)} {unit}{_spread(rounds, key, shown=spread)}"

    return show


def _erp(rounds: list[Values], *, spread: bool = True) -> str:
    text = _rate("calls_per_s", "calls/s")(rounds, spread=spread)
    if rounds and "order_kept" in rounds[0]:
        kept = all(v["order_kept"] for v in rounds)
        text += ", in order" if kept else ", [red]per-key order BROKEN[/red]"
    return text


def _latency(rounds: list[Values], *, spread: bool = True) -> str:
    median = _median(rounds)
    parts = " / ".join(_number(median.get(k, 0.0)) for k in ("p50_ms", "p99_ms", "p999_ms"))
    return f"{parts} ms"


def _resume(rounds: list[Values], *, spread: bool = True) -> str:
    resume = _median(rounds).get("crash_resume_s", 0.0)
    return f"{resume:.1f} s{_spread(rounds, 'crash_resume_s', shown=spread)}"


_CATCH_UP = _rate("catch_up_events_per_s", "events/s")
_ROWS: dict[str, list[tuple[str, Show]]] = {
    "H0": [("", _erp)],
    "P2": [("", _erp)],
    "P3": [("", _rate("rate_per_s", "events/s")), ("  p50 / p99 / p99.9", _latency)],
    "P4": [("", _CATCH_UP), ("SIGKILL -> first output again", _resume)],
    "I": [("", _rate("idle_calls_per_day_crm", "calls/day")),
          ("idle API calls/day, ERP", _rate("idle_calls_per_day_erp", "calls/day")),
          ("idle API calls/day, OA", _rate("idle_calls_per_day_oa", "calls/day")),
          ("CRM change after idling -> Kafka", _rate("crm_change_to_kafka_ms", "ms"))],
    "C": [("", _rate("idle_calls_per_day_crm", "calls/day")),
          ("idle API calls/day, ERP on push", _rate("idle_calls_per_day_erp", "calls/day")),
          ("CRM change -> raw event on Kafka, p50", _rate("crm_change_to_kafka_ms", "ms")),
          ("  max of the timed changes", _rate("crm_change_to_kafka_max_ms", "ms"))],
}  # fmt: skip
