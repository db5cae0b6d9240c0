"""`bizbus trace ID` and `bizbus xref ID`: follow a deal across topics and systems."""

import asyncio
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from bizbus.deploy.cli.kafka_login import connect
from bizbus.flows.runtime.trace import find_xrefs, trace
from bizbus.flows.settings import RuntimeSettings

console = Console()


def _xref_changelog(settings: RuntimeSettings) -> str:
    from bizbus.flows.xref import changelog_topic

    return changelog_topic(settings.app_id)


def _ids(ids: dict[str, str]) -> str:
    return ", ".join(f"{system}={value}" for system, value in sorted(ids.items()))


def xref(ident: Annotated[str, typer.Argument(help="Any CRM, ERP or OA id, or a key.")]) -> None:
    """Print the ids each system gave to the thing `ident` names."""
    settings = RuntimeSettings()
    found = asyncio.run(find_xrefs(connect(), ident, changelog=_xref_changelog(settings)))
    if not found:
        console.print(f"No cross-reference mentions {ident!r}.")
        raise typer.Exit(1)
    for key, ids in sorted(found.items()):
        console.print(
            f"[bold]{key}[/bold]: " + ", ".join(f"{s}={i}" for s, i in sorted(ids.items()))
        )


def trace_command(
    ident: Annotated[str, typer.Argument(help="Order number, any system id or correlation id.")],
) -> None:
    """Print every hop of the deal `ident` belongs to: topic, time, event, outcome, ids."""
    settings = RuntimeSettings()
    kafka = connect()
    hops = asyncio.run(trace(kafka, ident, prefix=settings.topic_prefix))
    if not hops:
        console.print(f"No event mentions {ident!r}.")
        raise typer.Exit(1)
    table = Table("time (UTC)", "topic", "event", "subject", "outcome")
    for hop in hops:
        table.add_row(
            hop.time.strftime("%H:%M:%S.%f")[:-3],
            hop.topic.removeprefix(settings.topic_prefix),
            hop.event_type.removeprefix("bizbus."),
            hop.subject,
            hop.outcome,
        )
    console.print(table)
    correlations = sorted({hop.correlation_id for hop in hops})
    console.print(f"{len(hops)} hop(s); correlation id(s): {', '.join(correlations)}")
    found = asyncio.run(find_xrefs(kafka, ident, changelog=_xref_changelog(settings)))
    for key, ids in sorted(found.items()):
        console.print(f"records: {key}: {_ids(ids)}")
