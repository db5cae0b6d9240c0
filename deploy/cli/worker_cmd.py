"""`bizbus worker`: run the flows as a faust worker (scales out as one consumer group)."""

import asyncio
import logging
from typing import Annotated

import typer
from aiokafka.errors import KafkaError
from pydantic import ValidationError
from rich.console import Console

from bizbus.connectors.errors import ConfigError
from bizbus.connectors.settings import describe_errors

console = Console(stderr=True)


def worker(
    loglevel: Annotated[str, typer.Option(help="crit, error, warn, info or debug.")] = "info",
) -> None:
    """Run every enabled flow until stopped (SIGTERM or Ctrl-C stop it cleanly)."""
    from faust.worker import Worker

    from bizbus.flows.runtime.topics_admin import ensure_topics
    from bizbus.flows.settings import RuntimeSettings
    from bizbus.flows.worker import build_worker, worker_topics

    try:
        settings = RuntimeSettings()
        app, _ = build_worker(settings)
    except ValidationError as error:
        message = describe_errors(RuntimeSettings, error, prefix="BIZBUS_")
        console.print(f"[red]config error:[/red] {message}")
        raise typer.Exit(2) from None
    except ConfigError as error:
        console.print(f"[red]config error:[/red] {error}")
        raise typer.Exit(2) from None
    loop = asyncio.new_event_loop()  # not made current: faust sets up its own loop next
    try:
        # Every topic exists and shows in the metadata before the consumer joins its group.
        created = loop.run_until_complete(
            ensure_topics(
                settings.kafka_bootstrap,
                worker_topics(app, settings),
                replication_factor=settings.replication_factor,
            )
        )
    except (ConfigError, KafkaError, OSError) as error:
        console.print(f"[red]error:[/red] could not prepare the topics: {error}")
        raise typer.Exit(1) from None
    finally:
        loop.close()
    if created:
        console.print(f"created {len(created)} topic(s)")
    # httpx logs every request URL at INFO: noisy, and a query string may carry record data.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    Worker(app, loglevel=loglevel).execute_from_commandline()
