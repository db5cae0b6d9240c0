"""`bizbus acl plan`: the least-privilege ACLs of the worker the environment describes.

Derived from the topic catalog, the enabled flows (`BIZBUS_FLOWS`, `BIZBUS_STAGES`), the topic
prefix and the app id; printed as `kafka-acls.sh` commands or as Strimzi KafkaUser ACLs (YAML).
"""

from typing import Annotated, Literal

import typer
import yaml
from rich.console import Console
from rich.markup import escape

from bizbus.connectors.errors import ConfigError
from bizbus.deploy.access import (
    DEFAULT_OPERATOR,
    DEFAULT_WORKER,
    AclPrincipals,
    acl_command_lines,
    strimzi_acls,
    worker_plan,
)
from bizbus.flows.settings import RuntimeSettings

app = typer.Typer(help="Kafka ACLs of a worker: least privilege, derived from its flows.")
console = Console(stderr=True)

Worker = Annotated[str, typer.Option(help="SCRAM user (principal) of the workers.")]
Operator = Annotated[
    str, typer.Option(help="SCRAM user of operators running `bizbus dlq`/`trace` ('' for none).")
]


def principals(worker: str, operator: str) -> AclPrincipals:
    """Return the principals the options name."""
    return AclPrincipals(worker=worker, operator=operator or None)


@app.command()
def plan(
    worker: Worker = DEFAULT_WORKER,
    operator: Operator = DEFAULT_OPERATOR,
    output: Annotated[
        Literal["commands", "strimzi"],
        typer.Option("--format", help="kafka-acls.sh commands, or Strimzi KafkaUser YAML."),
    ] = "commands",
    create: Annotated[
        bool,
        typer.Option(
            help="Let the worker create its topics (--no-create: an operator, e.g. Strimzi's "
            "Topic Operator, creates them)."
        ),
    ] = True,
    cluster: Annotated[str, typer.Option(help="Strimzi Kafka cluster name.")] = "bizbus",
    command_config: Annotated[
        str, typer.Option(help="The admin's client config file the commands name.")
    ] = "admin-client.properties",
    tool: Annotated[str, typer.Option(help="Path of kafka-acls.sh in the commands.")] = (
        "kafka-acls.sh"
    ),
) -> None:
    """Print which principal reads, writes, creates and describes which topics and groups."""
    from bizbus.deploy.k8s.strimzi import kafka_user

    settings = RuntimeSettings()
    try:
        grants = worker_plan(settings, principals(worker, operator), create=create)
    except ConfigError as error:
        console.print(f"[red]config error:[/red] {escape(str(error))}")
        raise typer.Exit(2) from None
    if output == "strimzi":
        users = [kafka_user(name, strimzi_acls(grants, f"User:{name}"), cluster=cluster)
                 for name in (worker, operator) if name]  # fmt: skip
        typer.echo(yaml.safe_dump_all(users, sort_keys=False), nl=False)
        return
    lines = acl_command_lines(
        grants, bootstrap=settings.kafka_bootstrap, command_config=command_config, tool=tool
    )
    for line in lines:
        typer.echo(line)
