"""A scenario's counts and figures, the table they print as, and the JSON they export.

Every count in `zeros` has a target of 0 (lost, duplicated, dead-lettered, crashes and each
scenario's own, e.g. regressions or leaks); one that is not met fails the suite. `figures` are
measurements with no threshold (time to resume, retry traffic ratio, latency).
"""

from dataclasses import asdict, dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["ScenarioResult", "print_table", "to_json"]

Figure = float | int | str


@dataclass
class ScenarioResult:
    """What one scenario measured, counted from the systems' records and Kafka."""

    scenario: str
    title: str
    n: int = 0
    lost: int = 0
    duplicated: int = 0
    dead_lettered: int = 0
    crashes: int = 0
    zeros: dict[str, int] = field(default_factory=dict)  # scenario-specific zero targets
    figures: dict[str, Figure] = field(default_factory=dict)
    note: str = ""
    error: str | None = None  # the scenario could not finish: a failure, with why

    def failed_targets(self) -> list[str]:
        """Return the zero targets this scenario missed (and its error, if it broke off)."""
        counts = {"lost": self.lost, "duplicated": self.duplicated,
                  "dead-lettered": self.dead_lettered, "crashes": self.crashes,
                  **self.zeros}  # fmt: skip
        missed = [f"{name}={value}" for name, value in counts.items() if value]
        return [*missed, *([f"error: {self.error}"] if self.error else [])]

    @property
    def passed(self) -> bool:
        """Return whether every zero target was met."""
        return not self.failed_targets()


def _cell(value: Figure) -> str:
    return (
        f"{value:,.2f}"
        if isinstance(value, float)
        else f"{value:,}"
        if isinstance(value, int)
        else value
    )


def print_table(results: list[ScenarioResult], console: Console) -> None:
    """Print one row per scenario: the zero-target counts, then its own counts and figures."""
    table = Table(title="bizbus chaos (counted from the sandboxes' records and Kafka)")
    for column in ("scenario", "N", "lost", "duplicated", "dead-lettered", "crashes"):
        table.add_column(column, justify="left" if column == "scenario" else "right")
    table.add_column("other zero targets / figures")
    table.add_column("result")
    for result in results:
        details = [f"{name} {_cell(value)}" for name, value in result.zeros.items()]
        details += [f"{name} {_cell(value)}" for name, value in result.figures.items()]
        details += [result.note] if result.note else []
        details += [f"error: {result.error}"] if result.error else []
        table.add_row(
            f"{result.scenario} {result.title}", _cell(result.n), _cell(result.lost),
            _cell(result.duplicated), _cell(result.dead_lettered), _cell(result.crashes),
            "; ".join(details), "[green]pass" if result.passed else "[red]FAIL",
        )  # fmt: skip
    console.print(table)


def to_json(results: list[ScenarioResult]) -> dict[str, Any]:
    """Return the results keyed by scenario id, each with its counts, figures and verdict."""
    return {
        "passed": all(r.passed for r in results),
        "scenarios": {
            r.scenario: {**asdict(r), "passed": r.passed, "failed": r.failed_targets()}
            for r in results
        },
    }
