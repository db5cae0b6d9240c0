"""`bizbus dlq list | show | replay | holds | release`: dead letters and the keys they hold.

Values are printed only when asked (`--values`), and then with every personal field masked
(sealed or not): dead letters are kept for weeks and read by people.
"""

import asyncio
from typing import Annotated

import orjson
import typer
from rich.console import Console

from bizbus.deploy.cli.kafka_login import connect
from bizbus.flows.runtime import deadletter as dl
from bizbus.flows.runtime.dlq_admin import list_dead_letter_topics, read_dead_letters, replay
from bizbus.flows.runtime.holds import HoldStore
from bizbus.flows.runtime.kafka_config import KafkaConnection
from bizbus.flows.runtime.services import holds_topic
from bizbus.flows.settings import RuntimeSettings
from bizbus.schemas import masked_record

app = typer.Typer(help="Dead-letter topics: list, show, replay; the keys they hold, release.")
console = Console()

Bootstrap = Annotated[
    str | None, typer.Option(help="Kafka bootstrap (default: BIZBUS_KAFKA_BOOTSTRAP).")
]


def _kafka(given: str | None) -> KafkaConnection:
    return connect(given)


@app.command("list")
def list_topics(bootstrap: Bootstrap = None) -> None:
    """List dead-letter topics and how many records each holds."""
    prefix = RuntimeSettings().topic_prefix
    counts = asyncio.run(list_dead_letter_topics(_kafka(bootstrap), prefix=prefix))
    if not counts:
        console.print("No dead-letter topics.")
    for topic, count in counts.items():
        typer.echo(f"{topic}\t{count}")


@app.command()
def show(
    topic: str,
    bootstrap: Bootstrap = None,
    values: Annotated[
        bool, typer.Option("--values", help="Also print record values, personal data masked.")
    ] = False,
) -> None:
    """Show each dead letter: where it came from and why it failed."""
    letters = asyncio.run(read_dead_letters(_kafka(bootstrap), topic))
    for letter in letters:
        console.print(
            f"[bold]{letter.topic}[{letter.partition}]@{letter.offset}[/bold] "
            f"from {letter.source_topic}[{letter.header(dl.SOURCE_PARTITION)}]"
            f"@{letter.header(dl.SOURCE_OFFSET)} key={letter.key!r}\n"
            f"    {letter.header(dl.ERROR_CLASS)}: {letter.header(dl.REASON)} "
            f"(attempts {letter.header(dl.ATTEMPTS)})"
        )
        if values:
            shown = masked_record(letter.value, letter.headers)
            text = "(not shown: no bizbus event)" if shown is None else orjson.dumps(shown).decode()
            typer.echo(f"    value: {text}")  # not rich: JSON brackets are not markup
    console.print(f"{len(letters)} dead letter(s) in {topic}.")


@app.command("replay")
def replay_command(
    topic: str,
    offset: Annotated[
        list[int] | None, typer.Option(help="Offsets to replay (repeatable); default all.")
    ] = None,
    bootstrap: Bootstrap = None,
) -> None:
    """Re-send dead letters to the topic they failed on (safe: sinks are idempotent)."""
    address = _kafka(bootstrap)
    letters = asyncio.run(read_dead_letters(address, topic))
    if offset:
        wanted = set(offset)
        letters = [letter for letter in letters if letter.offset in wanted]
        missing = wanted - {letter.offset for letter in letters}
        if missing:
            console.print(f"[red]error:[/red] no dead letter at offset(s) {sorted(missing)}.")
            raise typer.Exit(1)
    sent = asyncio.run(replay(address, letters))
    console.print(f"Replayed {sent} dead letter(s) from {topic}.")


async def _with_holds(kafka: KafkaConnection, stage: str | None, key: str | None) -> dict[str, int]:
    """Read the worker group's holds (and release `stage`/`key` when given); return them."""
    store = HoldStore(kafka, holds_topic(RuntimeSettings()))
    await store.start()
    try:
        if stage is not None:
            await store.release(stage, None if key is None else key.encode())
        return store.held()
    finally:
        await store.stop()


@app.command("holds")
def holds_command(bootstrap: Bootstrap = None) -> None:
    """List the keys held behind dead letters, per stage (BIZBUS_APP_ID's worker group)."""
    held = asyncio.run(_with_holds(_kafka(bootstrap), None, None))
    for name, count in held.items():
        typer.echo(f"{name}\t{count}")
    console.print(f"{len(held)} key(s) held.")


@app.command("release")
def release_command(
    stage: Annotated[str, typer.Argument(help="The stage holding the key (see `dlq holds`).")],
    key: Annotated[str, typer.Argument(help="The record key, e.g. the CRM order id.")],
    bootstrap: Bootstrap = None,
) -> None:
    """Let a held key's new events through; its dead letters stay where they are."""
    address = _kafka(bootstrap)
    if f"{stage}|{key}" not in asyncio.run(_with_holds(address, None, None)):
        console.print(f"[red]error:[/red] stage {stage} holds no key {key!r}.")
        raise typer.Exit(1)
    asyncio.run(_with_holds(address, stage, key))
    console.print(f"Released {key!r} in stage {stage}.")
