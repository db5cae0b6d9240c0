"""`bizbus chaos`: run the reliability and security scenarios and print what they counted."""

from dataclasses import replace
from typing import Annotated

import typer

from bizbus.deploy.sandbox.registry import SandboxExtraMissingError, require_server_extra


def chaos(
    quick: Annotated[
        bool, typer.Option("--quick", help="The short version of each scenario (test command).")
    ] = False,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print one JSON object on stdout, the table on stderr."),
    ] = False,
    scenario: Annotated[
        list[str] | None,
        typer.Option(
            "--scenario", "-s", help="Run only these (R1, R2, R3, R4, R5, S1, S2, S3); repeatable."
        ),
    ] = None,
    orders: Annotated[
        int | None, typer.Option(min=1, help="R1's orders (default 200 quick, 20,000 full).")
    ] = None,
    outage: Annotated[
        list[float] | None,
        typer.Option(
            min=1,
            help="R3's window per fault in seconds; repeatable, each length in turn "
            "(default 10 quick; 10, 120 and 600 full).",
        ),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed of the random moments and generated inputs.")
    ] = None,
    bootstrap: Annotated[
        str | None,
        typer.Option(help="Use this Kafka (host:port) instead of starting one."),
    ] = None,
) -> None:
    """Kill workers, break the ERP, poison topics, attack the webhook, hunt for leaks; count.

    Counts come from the sandboxes' own records and from Kafka. Exits 1 when a zero target
    (lost, duplicated, dead-lettered, crashes, or a scenario's own) is not met.
    """
    try:
        require_server_extra()
    except SandboxExtraMissingError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    from bizbus.deploy.chaos.run import SCENARIOS, ChaosOptions, run_chaos

    chosen = tuple(s.upper() for s in scenario) if scenario else SCENARIOS
    unknown = [s for s in chosen if s not in SCENARIOS]
    if unknown:
        typer.echo(f"error: unknown scenario(s) {unknown}; choose from {list(SCENARIOS)}", err=True)
        raise typer.Exit(2)
    options = ChaosOptions(quick=quick, bootstrap=bootstrap, scenarios=chosen, orders=orders,
                           outage_s=tuple(outage or ()))  # fmt: skip
    if seed is not None:
        options = replace(options, seed=seed)
    raise typer.Exit(run_chaos(options, as_json=as_json))
