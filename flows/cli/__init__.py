"""The `bizbus` command line: one sub-command group per module, registered here."""

import typer

from flows.cli import (
    demo_cmd,
    dlq_cmd,
    kafka_cmd,
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
app.command("demo")(demo_cmd.demo)
app.command("worker")(worker_cmd.worker)
app.command("trace")(trace_cmd.trace_command)
app.command("xref")(trace_cmd.xref)


def main() -> None:
    """Run the CLI (entry point of the `bizbus` console script)."""
    app()
