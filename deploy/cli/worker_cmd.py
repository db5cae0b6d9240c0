"""`bizbus worker`: run the flows as a faust worker (scales out as one consumer group).

Before faust starts, the worker logs in to Kafka (a wrong password, CA or protocol is named in
one line), sizes replication by the brokers it sees, and creates every topic it uses. Its log
goes to stdout as `BIZBUS_LOG_FORMAT` says (text or JSON lines, redacted: `runtime.logs`).
"""

import asyncio
import logging
import logging.config
from typing import TYPE_CHECKING, Annotated, Any

import typer
from aiokafka.errors import KafkaError
from pydantic import ValidationError
from rich.console import Console

from bizbus.connectors.errors import ConfigError
from bizbus.connectors.settings import describe_errors

if TYPE_CHECKING:
    import faust

console = Console(stderr=True, soft_wrap=True)  # an error stays one line
log = logging.getLogger("bizbus.worker")


def _prepare(
    loop: asyncio.AbstractEventLoop, loglevel: str
) -> tuple["faust.App", dict[str, Any], bool]:
    """Check the settings and Kafka access, create the topics; return the app and log config.

    The log is set up first, so that these steps log like the worker will; the flag says
    whether it writes JSON lines.

    Raises:
        typer.Exit: 2 for a bad setting, 1 when Kafka refuses us or the topics cannot be made.
    """
    from mode.utils.logging import level_number

    from bizbus.flows.runtime.kafka_access import KafkaAccessError, check_access
    from bizbus.flows.runtime.kafka_config import kafka_connection
    from bizbus.flows.runtime.logs import logging_config
    from bizbus.flows.runtime.topics_admin import ensure_topics, replication_for
    from bizbus.flows.settings import RuntimeSettings
    from bizbus.flows.worker import build_worker, worker_topics

    try:
        settings = RuntimeSettings()
        config = logging_config(settings.log_format, level_number(loglevel))
        logging.config.dictConfig(config)
        kafka = kafka_connection(settings.kafka_bootstrap)
        # Log in first: a wrong password or CA is named here, not buried in client retries.
        brokers = loop.run_until_complete(check_access(kafka))
        replication = replication_for(brokers, settings.replication_factor)
        settings = settings.model_copy(update={"replication_factor": replication.factor})
        app, _ = build_worker(settings, kafka)
    except ValidationError as error:
        message = describe_errors(RuntimeSettings, error, prefix="BIZBUS_")
        console.print(f"[red]config error:[/red] {message}")
        raise typer.Exit(2) from None
    except KafkaAccessError as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(1) from None
    except ConfigError as error:
        console.print(f"[red]config error:[/red] {error}")
        raise typer.Exit(2) from None
    try:
        # Every topic exists and shows in the metadata before the consumer joins its group.
        created = loop.run_until_complete(
            ensure_topics(kafka, worker_topics(app, settings), replication_factor=replication)
        )
    except (ConfigError, KafkaError, OSError) as error:
        console.print(f"[red]error:[/red] could not prepare the topics: {error}")
        raise typer.Exit(1) from None
    copies = f"{replication.factor} cop{'y' if replication.factor == 1 else 'ies'}"
    log.info(
        "Kafka: %s, %d broker(s); topics keep %s (min.insync.replicas %d); created %d topic(s)",
        kafka.describe(), brokers, copies, replication.min_insync, len(created),
    )  # fmt: skip
    return app, config, settings.log_format == "json"


def worker(
    loglevel: Annotated[str, typer.Option(help="crit, error, warn, info or debug.")] = "info",
) -> None:
    """Run every enabled flow until stopped (SIGTERM or Ctrl-C stop it cleanly)."""
    from faust.worker import Worker

    loop = asyncio.new_event_loop()  # not made current: faust sets up its own loop next
    try:
        app, config, json_lines = _prepare(loop, loglevel)
    finally:
        loop.close()
    # JSON lines only on stdout: faust's start-up banner (not a log line) is left out.
    Worker(
        app, loglevel=loglevel, logging_config=config, quiet=json_lines
    ).execute_from_commandline()
