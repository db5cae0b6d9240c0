"""`bizbus trace ID` and `bizbus xref ID`: follow a deal across topics and systems.

`trace` answers from the worker group's trace index (one partition of one small topic, keyed
by correlation id); ID may be a correlation id, a CRM order id, an OA approval code, or any id
the cross-reference table knows. `--scan` reads every topic instead (it also finds any text
inside events, and shows dead letters).
"""

import asyncio
from collections.abc import Callable
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from bizbus.deploy.cli.kafka_login import connect
from bizbus.flows.runtime.kafka_config import KafkaConnection
from bizbus.flows.runtime.polling import correlation_id
from bizbus.flows.runtime.trace import find_xrefs, trace
from bizbus.flows.runtime.trace_index import index_topic, read_hops, timeline
from bizbus.flows.settings import RuntimeSettings
from bizbus.flows.shared import crm_order_deal

console = Console()
notices = Console(stderr=True)  # progress and fallbacks, apart from the answer


# The deals an id can name, by the xref key kinds whose deals the flows derive from them.
def _trip_deal(code: str) -> str:
    return correlation_id("oa-instance", code)


_DEAL_OF_KIND: dict[str, Callable[[str], str]] = {"order": crm_order_deal, "trip": _trip_deal}


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
        console.print(f"[bold]{key}[/bold]: {_ids(ids)}")


def deals_of(ident: str, xrefs: dict[str, dict[str, str]]) -> list[str]:
    """Return the correlation ids `ident` may name.

    Itself, the deals the flows derive from an id like it, and those of the cross-reference
    entries that mention it.
    """
    deals = [ident, *(deal(ident) for deal in _DEAL_OF_KIND.values())]
    for key in xrefs:
        kind, _, name = key.partition(":")
        if kind in _DEAL_OF_KIND:
            deals.append(_DEAL_OF_KIND[kind](name))
    return list(dict.fromkeys(deals))


async def _indexed(
    kafka: KafkaConnection, ident: str, settings: RuntimeSettings
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, dict[str, str]]]:
    xrefs = await find_xrefs(kafka, ident, changelog=_xref_changelog(settings))
    hops = await read_hops(kafka, index_topic(settings), deals_of(ident, xrefs))
    return hops, xrefs


def _scan(kafka: KafkaConnection, ident: str, settings: RuntimeSettings, as_json: bool) -> None:
    hops = asyncio.run(trace(kafka, ident, prefix=settings.topic_prefix))
    if not hops:
        console.print(f"No event mentions {ident!r}.")
        raise typer.Exit(1)
    if as_json:
        rows = [
            {**hop.__dict__, "time": hop.time.isoformat(timespec="milliseconds")} for hop in hops
        ]
        typer.echo(orjson.dumps({"hops": rows}, option=orjson.OPT_INDENT_2).decode())
        return
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


def trace_command(
    ident: Annotated[str, typer.Argument(help="Order number, any system id or correlation id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    scan: Annotated[
        bool, typer.Option("--scan", help="Read every topic instead of the trace index.")
    ] = False,
) -> None:
    """Print the deal `ident` belongs to as a timeline: system, step, time, latency per hop."""
    settings = RuntimeSettings()
    kafka = connect()
    if scan:
        _scan(kafka, ident, settings, as_json)
        return
    found, xrefs = asyncio.run(_indexed(kafka, ident, settings))
    rows = timeline((hop for hops in found.values() for hop in hops), prefix=settings.topic_prefix)
    if not rows:  # e.g. the id of a record that was dead-lettered before it made a deal
        notices.print(f"No indexed deal for {ident!r}: reading every topic instead.")
        _scan(kafka, ident, settings, as_json)
        return
    if as_json:
        answer = {"correlation_ids": sorted(found), "hops": rows, "records": xrefs}
        typer.echo(orjson.dumps(answer, option=orjson.OPT_INDENT_2).decode())
        return
    table = Table("time (UTC)", "+ms", "system", "step", "topic", "subject")
    for row in rows:
        latency = row["latency_ms"]
        table.add_row(
            row["time"][11:23], "" if latency is None else f"{latency:,}", row["system"],
            row["step"], row["topic"], str(row["subject"] or ""),
        )  # fmt: skip
    console.print(table)
    total = sum(int(row["latency_ms"] or 0) for row in rows)
    deals = ", ".join(sorted(found))
    console.print(f"{len(rows)} hop(s) over {total:,} ms; correlation id(s): {deals}")
    for key, ids in sorted(xrefs.items()):
        console.print(f"records: {key}: {_ids(ids)}")
