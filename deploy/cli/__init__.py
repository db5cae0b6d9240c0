"""The `bizbus` command line: one sub-command group per module, registered here.

It sits in the top layer (deploy), the one place allowed to import every other layer.
"""

from importlib.metadata import version
from typing import Annotated

import typer

from bizbus.deploy.cli import (
    acl_cmd,
    bench_cmd,
    budget_cmd,
    chaos_cmd,
    demo_cmd,
    deploy_cmd,
    dlq_cmd,
    kafka_cmd,
    pii_cmd,
    reconcile_cmd,
    sandbox_cmd,
    schemas_cmd,
    trace_cmd,
    worker_cmd,
)

app = typer.Typer(
    name="bizbus",
    help="bizbus links CRM, ERP and OA systems through Apache Kafka.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(kafka_cmd.app, name="kafka")
app.add_typer(sandbox_cmd.app, name="sandbox")
app.add_typer(dlq_cmd.app, name="dlq")
app.add_typer(schemas_cmd.app, name="schemas")
app.add_typer(acl_cmd.app, name="acl")
app.add_typer(deploy_cmd.app, name="deploy")
app.add_typer(pii_cmd.app, name="pii")
app.command("demo")(demo_cmd.demo)
app.command("bench")(bench_cmd.bench)
app.command("chaos")(chaos_cmd.chaos)
app.command("budget")(budget_cmd.budget)
app.command("reconcile")(reconcile_cmd.reconcile_command)
app.command("worker")(worker_cmd.worker)
app.command("trace")(trace_cmd.trace_command)
app.command("xref")(trace_cmd.xref)


def _print_version(wanted: bool) -> None:
    if wanted:
        typer.echo(f"bizbus {version('bizbus')}")
        raise typer.Exit


@app.callback()
def _options(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Bizbus links CRM, ERP and OA systems through Apache Kafka."""


def main() -> None:
    """Run the CLI (entry point of the `bizbus` console script)."""
    app()
