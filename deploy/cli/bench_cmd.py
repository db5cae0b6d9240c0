"""`bizbus bench`: measure the runtime against raw baselines from the same run (DESIGN §5)."""

from pathlib import Path
from typing import Annotated

import typer

from bizbus.deploy.sandbox.registry import SandboxExtraMissingError, require_server_extra

FIGURES = frozenset({"P1", "P2", "P3", "P4", "I"})


def bench(
    rounds: Annotated[
        int, typer.Option(min=1, help="Interleaved rounds; the figures are their medians.")
    ] = 3,
    quick: Annotated[
        bool,
        typer.Option("--quick", help="Smoke test: small sizes, one round, overlapped waits."),
    ] = False,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="Print one JSON object (figures by id) on stdout, the table on stderr."
        ),
    ] = False,
    bootstrap: Annotated[
        str | None,
        typer.Option(
            help="Use this Kafka (host:port) instead of starting one; topics we "
            "create there are deleted again."
        ),
    ] = None,
    concurrency: Annotated[
        int, typer.Option(min=1, help="ERP calls in flight for the raw httpx baseline (H0).")
    ] = 8,
    latency_ms: Annotated[
        float, typer.Option(min=0, help="Latency the sandbox ERP adds to every API call.")
    ] = 10.0,
    idle_window: Annotated[
        float,
        typer.Option(
            min=0,
            help="Seconds the idle API-cost figure (I) counts calls, after the polls backed "
            "off; 0 skips it (--quick: at most 30).",
        ),
    ] = 300.0,
    idle_scale: Annotated[
        float,
        typer.Option(
            min=1,
            help="Divide the default poll intervals by this for figure I (calls/day are "
            "scaled back; --quick: at least 60).",
        ),
    ] = 10.0,
    figure: Annotated[
        list[str] | None,
        typer.Option(
            "--figure",
            "-f",
            help="Measure only this figure with its baseline (repeat it: -f P1 -f P3); "
            "P1 P2 P3 P4 I (I also measures C). P3 brings P1. Default: all.",
        ),
    ] = None,
    profile: Annotated[
        Path | None,
        typer.Option(
            help="After the rounds, run P1 once more under py-spy and write its "
            "collapsed stacks here (needs `pip install py-spy`)."
        ),
    ] = None,
) -> None:
    """Measure the runtime beside raw baselines taken in the same run (DESIGN §5).

    C0 raw pipe, P1 pure stage, H0 raw httpx, P2 ERP sink, P3 latency, P4 crash, I idle API
    calls per day per system (`idle_calls_per_day` in --json). Starts Kafka (unless
    --bootstrap) and the sandboxes; stops them afterwards.
    """
    figures = frozenset(name.upper() for name in figure or ())
    if unknown := figures - FIGURES:
        typer.echo(f"error: unknown figure(s) {', '.join(sorted(unknown))}; "
                   f"choose from {', '.join(sorted(FIGURES))}", err=True)  # fmt: skip
        raise typer.Exit(2)
    try:
        require_server_extra()
    except SandboxExtraMissingError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    from bizbus.deploy.bench.run import BenchOptions, run_bench

    options = BenchOptions(
        rounds=rounds,
        quick=quick,
        bootstrap=bootstrap,
        concurrency=concurrency,
        latency_ms=latency_ms,
        as_json=as_json,
        profile=profile,
        idle_window_s=idle_window,
        idle_scale=idle_scale,
        figures=figures,
    )
    raise typer.Exit(run_bench(options))
