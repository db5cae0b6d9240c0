"""`bizbus dlq list | show TOPIC | replay TOPIC`: inspect and re-send dead letters.

Values are not printed unless asked (`--values`): dead letters may hold personal data.
"""

import asyncio
from typing import Annotated

import typer
from rich.console import Console

from bizbus.flows.runtime import deadletter as dl
from bizbus.flows.runtime.dlq_admin import list_dead_letter_topics, read_dead_letters, replay
from bizbus.flows.settings import RuntimeSettings

app = typer.Typer(help="Dead-letter topics: list, show, replay.")
console = Console()

Bootstrap = Annotated[
    str | None, typer.Option(help="Kafka bootstrap (default: BIZBUS_KAFKA_BOOTSTRAP).")
]


def _bootstrap(given: str | None) -> str:
    return given or RuntimeSettings().kafka_bootstrap


@app.command("list")
def list_topics(bootstrap: Bootstrap = None) -> None:
    """List dead-letter topics and how many records each holds."""
    prefix = RuntimeSettings().topic_prefix
    counts = asyncio.run(list_dead_letter_topics(_bootstrap(bootstrap), prefix=prefix))
    if not counts:
        console.print("No dead-letter topics.")
    for topic, count in counts.items():
        typer.echo(f"{topic}\t{count}")


@app.command()
def show(
    topic: str,
    bootstrap: Bootstrap = None,
    values: Annotated[bool, typer.Option("--values", help="Also print record values.")] = False,
) -> None:
    """Show each dead letter: where it came from and why it failed."""
    letters = asyncio.run(read_dead_letters(_bootstrap(bootstrap), topic))
    for letter in letters:
        console.print(
            f"[bold]{letter.topic}[{letter.partition}]@{letter.offset}[/bold] "
            f"from {letter.source_topic}[{letter.header(dl.SOURCE_PARTITION)}]"
            f"@{letter.header(dl.SOURCE_OFFSET)} key={letter.key!r}\n"
            f"    {letter.header(dl.ERROR_CLASS)}: {letter.header(dl.REASON)} "
            f"(attempts {letter.header(dl.ATTEMPTS)})"
        )
        if values:
            console.print(f"    value: {letter.value!r}")
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
    address = _bootstrap(bootstrap)
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
