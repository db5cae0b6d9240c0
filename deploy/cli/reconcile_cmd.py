"""`bizbus reconcile [prices|orders|customers ...] [--heal] [--json]`: where the systems disagree.

Reads both systems through their APIs (the enabled flows say what to compare), prints each
drift, and with `--heal` publishes the corrective commands to the flows' own topics, so the
running workers apply them with their echo suppression, ownership and idempotent sinks.
Exit status: 0 nothing left to heal, 1 drift this run could not heal, 2 a kind could not be
compared (or a setting is wrong).
"""

import asyncio
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bizbus.connectors.errors import ConfigError
from bizbus.deploy.cli.kafka_login import connect
from bizbus.flows.connections import Connections
from bizbus.flows.personal import load_key_ring
from bizbus.flows.runtime.reconcile import (
    KINDS,
    Drift,
    Reconciler,
    ReconcileReport,
    heals_of,
    reconcile,
    send_heals,
)
from bizbus.flows.runtime.spec import Emit
from bizbus.flows.settings import RuntimeSettings
from bizbus.flows.worker import reconcilers_of
from bizbus.schemas import KeyRing, personal_paths

console = Console()
notices = Console(stderr=True)


def _chosen(kinds: list[str], offered: list[Reconciler], settings: RuntimeSettings) -> list[str]:
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise ConfigError(f"unknown kind(s) {unknown}: choose from {', '.join(KINDS)}")
    wanted = kinds or [kind for kind in KINDS if any(r.kind == kind for r in offered)]
    missing = [kind for kind in wanted if not any(r.kind == kind for r in offered)]
    if missing:
        raise ConfigError(
            f"no enabled flow reconciles {', '.join(missing)} (BIZBUS_FLOWS={settings.flows})"
        )
    return wanted


def _sealing_keys(heals: list[Emit]) -> KeyRing | None:
    """Return the key ring when a heal carries personal data (sealed as a worker seals it).

    Raises:
        typer.Exit: 2 when one does and `BIZBUS_PII_*` is not set: nothing is sent in clear.
    """
    if not any(personal_paths(emit.event.type) for emit in heals):
        return None
    try:
        return load_key_ring()
    except ConfigError as error:
        notices.print(f"[red]error:[/red] these heals carry personal data, which is sealed on "
                      f"Kafka; nothing was sent: {escape(str(error))}")  # fmt: skip
        raise typer.Exit(2) from None


async def _run(reconcilers: list[Reconciler], connections: Connections) -> ReconcileReport:
    try:
        return await reconcile(reconcilers)
    finally:
        await connections.close()


def _drift_json(drift: Drift) -> dict[str, Any]:
    heal = drift.heal.event.type if drift.heal else None
    return {"key": drift.key, "issue": drift.issue, "detail": drift.detail, "heal": heal}


def _as_json(report: ReconcileReport, healed: int) -> dict[str, Any]:
    kinds = {
        kind: {"checked": result.checked, "drifts": [_drift_json(d) for d in result.drifts]}
        for kind, result in report.results.items()
    }
    return {
        "kinds": kinds,
        "failures": report.failures,
        "healed": healed,
        "seconds": round(report.seconds, 3),
    }


def _short(event_type: str) -> str:
    """Return an event type without its namespace and version (`sales.order.placed`)."""
    return event_type.removeprefix("bizbus.").rsplit(".v", 1)[0]


def _print(report: ReconcileReport) -> None:
    for kind, result in report.results.items():
        if not result.drifts:
            console.print(f"[green]{kind}[/green]: {result.checked} checked, no drift")
            continue
        table = Table("key", "issue", "detail", "heal", title=f"{kind}: drift")
        for drift in result.drifts:
            heal = _short(drift.heal.event.type) if drift.heal else "-"
            table.add_row(drift.key, drift.issue, escape(drift.detail), heal)
        console.print(table)
        console.print(f"[yellow]{kind}[/yellow]: {result.checked} checked, "
                      f"{len(result.drifts)} drift")  # fmt: skip
    for kind, reason in report.failures.items():
        console.print(f"[red]{kind}[/red]: not compared: {escape(reason)}")


def reconcile_command(
    kinds: Annotated[
        list[str] | None,
        typer.Argument(help=f"What to compare: {', '.join(KINDS)} (default: all offered)."),
    ] = None,
    heal: Annotated[
        bool, typer.Option("--heal", help="Send the corrective commands through the flows.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Compare what the CRM and the ERP hold; print the drift; --heal sets it right."""
    settings = RuntimeSettings()
    try:
        connections = Connections()
        offered = reconcilers_of(settings, connections)
        wanted = _chosen(kinds or [], offered, settings)
    except ConfigError as error:
        notices.print(f"[red]error:[/red] {escape(str(error))}")
        raise typer.Exit(2) from None
    kafka = connect() if heal else None
    chosen = [reconciler for reconciler in offered if reconciler.kind in wanted]
    if not as_json:
        notices.print(f"Reconciling {', '.join(wanted)} (reading both systems)…")
    report = asyncio.run(_run(chosen, connections))
    drifts = [drift for result in report.results.values() for drift in result.drifts]
    healed = 0
    if kafka is not None and drifts:
        heals = heals_of(drifts)
        keys = _sealing_keys(heals)
        healed = asyncio.run(send_heals(kafka, heals, prefix=settings.topic_prefix, keys=keys))
    if as_json:
        typer.echo(orjson.dumps(_as_json(report, healed)).decode())
    else:
        _print(report)
        if healed:
            console.print(f"Sent {healed} corrective command(s); the workers apply them. "
                          "Run again to confirm.")  # fmt: skip
    if report.failures:
        raise typer.Exit(2)
    unhealed = [drift for drift in drifts if drift.heal is None or kafka is None]
    if unhealed:
        raise typer.Exit(1)
