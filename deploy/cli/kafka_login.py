"""The CLI's Kafka connection: the environment's `BIZBUS_KAFKA_*`, checked before any command.

A tool that reads dead letters or traces a deal logs in first, so a wrong password, CA or
protocol ends the command with one line naming the setting instead of a client's retries.
"""

import asyncio

import typer
from rich.console import Console
from rich.markup import escape

from bizbus.connectors.errors import ConfigError
from bizbus.flows.runtime.kafka_access import check_access
from bizbus.flows.runtime.kafka_config import KafkaConnection, kafka_connection
from bizbus.flows.settings import RuntimeSettings

_console = Console(stderr=True, soft_wrap=True)  # one line, however long


def connect(bootstrap: str | None = None) -> KafkaConnection:
    """Return the checked connection to `bootstrap` (default BIZBUS_KAFKA_BOOTSTRAP).

    Raises:
        typer.Exit: 2 after printing the one-line reason when the settings or Kafka refuse.
    """
    try:
        connection = kafka_connection(bootstrap or RuntimeSettings().kafka_bootstrap)
        asyncio.run(check_access(connection))
    except ConfigError as error:
        _console.print(f"[red]error:[/red] {escape(str(error))}")
        raise typer.Exit(2) from None
    return connection
