"""`bizbus dlq list | show | replay | quarantined | holds | release`: dead letters, their keys.

`list`, `show` and `replay` filter by topic, error class, time of failure and correlation id.
Replays are recorded per event; an event that failed BIZBUS_DLQ_MAX_REPLAYS replays goes to
quarantine (`quarantined` shows it with its history). Values are printed only when asked
(`--values`), and then with every personal field masked (sealed or not): dead letters are kept
for weeks and read by people.
"""

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, TypeVar

import orjson
import typer
from rich.console import Console
from rich.markup import escape

from bizbus.deploy.cli.kafka_login import connect
from bizbus.flows.runtime import deadletter as dl
from bizbus.flows.runtime.dlq_admin import (
    DeadLetter,
    LetterFilter,
    ReplayReport,
    list_dead_letter_topics,
    read_dead_letters,
    replay,
)
from bizbus.flows.runtime.dlq_history import (
    HISTORY_HEADER,
    ReplayHistory,
    history_plans,
    quarantine_topic,
    replays_topic,
)
from bizbus.flows.runtime.holds import HoldStore
from bizbus.flows.runtime.kafka_access import check_access
from bizbus.flows.runtime.kafka_config import KafkaConnection
from bizbus.flows.runtime.services import holds_topic
from bizbus.flows.runtime.topics_admin import ensure_topics, replication_for
from bizbus.flows.settings import RuntimeSettings
from bizbus.schemas import masked_record

app = typer.Typer(
    help="Dead-letter topics: list, show, replay, quarantined; the keys they hold, release."
)
console = Console()

Bootstrap = Annotated[
    str | None, typer.Option(help="Kafka bootstrap (default: BIZBUS_KAFKA_BOOTSTRAP).")
]
Topic = Annotated[
    str | None, typer.Argument(help="A dead-letter topic (`<topic>.dlq`); default: all of them.")
]
ErrorClass = Annotated[
    str | None, typer.Option(help="Only dead letters of this error class, e.g. RejectedError.")
]
Correlation = Annotated[
    str | None, typer.Option("--correlation-id", help="Only dead letters of this deal.")
]
Since = Annotated[
    str | None,
    typer.Option(
        help="Only those that failed at or after: ISO 8601 (UTC if no offset) or 30m, 2h, 7d ago."
    ),
]
Until = Annotated[str | None, typer.Option(help="Only those that failed before (same forms).")]

T = TypeVar("T")
_AGO = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def _kafka(given: str | None) -> KafkaConnection:
    return connect(given)


def _when(text: str | None, option: str) -> int | None:
    """Return `text` as epoch milliseconds: a time, or a duration before now."""
    if text is None:
        return None
    ago = _AGO.match(text.strip())
    if ago:
        moment = datetime.now(UTC) - timedelta(**{_UNITS[ago[2]]: int(ago[1])})
    else:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise typer.BadParameter(
                f"{text!r} is neither an ISO 8601 time nor a duration like 30m, 2h, 7d",
                param_hint=option,
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _filter(
    error_class: str | None, correlation_id: str | None, since: str | None, until: str | None
) -> LetterFilter:
    return LetterFilter(
        error_class=error_class,
        correlation_id=correlation_id,
        since_ms=_when(since, "--since"),
        until_ms=_when(until, "--until"),
    )


def _time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


async def _letters(
    kafka: KafkaConnection, topic: str | None, where: LetterFilter
) -> list[DeadLetter]:
    prefix = RuntimeSettings().topic_prefix
    return await read_dead_letters(kafka, topic, prefix=prefix, where=where)


async def _with_history(kafka: KafkaConnection, run: Callable[[ReplayHistory], Awaitable[T]]) -> T:
    history = ReplayHistory(kafka, replays_topic(RuntimeSettings()))
    await history.start()
    try:
        return await run(history)
    finally:
        await history.stop()


@app.command("list")
def list_topics(
    bootstrap: Bootstrap = None,
    error_class: ErrorClass = None,
    correlation_id: Correlation = None,
    since: Since = None,
    until: Until = None,
) -> None:
    """List dead-letter topics and how many records each holds (that match the filters)."""
    kafka = _kafka(bootstrap)
    where = _filter(error_class, correlation_id, since, until)
    prefix = RuntimeSettings().topic_prefix
    counts = asyncio.run(list_dead_letter_topics(kafka, prefix=prefix))
    if not where.empty:
        letters = asyncio.run(_letters(kafka, None, where))
        counts = {topic: sum(1 for x in letters if x.topic == topic) for topic in counts}
    if not counts:
        console.print("No dead-letter topics.")
    for topic, count in counts.items():
        typer.echo(f"{topic}\t{count}")


def _history_line(history: ReplayHistory, letter: DeadLetter) -> str:
    story = history.of(letter.event_key)
    replays = story["replays"]
    parts = [f"replayed {len(replays)}x"] if replays else ["never replayed"]
    if any(replay["letter"] == letter.position for replay in replays):
        parts.append("this one re-sent")
    if story["quarantined"]:
        parts.append(f"quarantined {_time(story['quarantined']['at_ms'])}")
    return ", ".join(parts)


@app.command()
def show(
    topic: Topic = None,
    bootstrap: Bootstrap = None,
    error_class: ErrorClass = None,
    correlation_id: Correlation = None,
    since: Since = None,
    until: Until = None,
    values: Annotated[
        bool, typer.Option("--values", help="Also print record values, personal data masked.")
    ] = False,
) -> None:
    """Show each dead letter: where it came from, why and when it failed, its replays."""
    kafka = _kafka(bootstrap)
    letters = asyncio.run(
        _letters(kafka, topic, _filter(error_class, correlation_id, since, until))
    )

    async def lines(history: ReplayHistory) -> list[str]:
        return [_history_line(history, letter) for letter in letters]

    stories = asyncio.run(_with_history(kafka, lines))
    for letter, story in zip(letters, stories, strict=True):
        console.print(
            f"[bold]{letter.topic}[{letter.partition}]@{letter.offset}[/bold] "
            f"from {letter.source_topic}[{letter.header(dl.SOURCE_PARTITION)}]"
            f"@{letter.header(dl.SOURCE_OFFSET)} key={escape(repr(letter.key))}\n"
            f"    {letter.header(dl.ERROR_CLASS)}: {escape(letter.header(dl.REASON))} "
            f"(attempts {letter.header(dl.ATTEMPTS)}) at {_time(letter.failed_at_ms)}\n"
            f"    event {escape(letter.event_key)} correlation "
            f"{escape(letter.header('ce_correlationid') or '-')}; {story}"
        )
        if values:
            shown = masked_record(letter.value, letter.headers)
            text = "(not shown: no bizbus event)" if shown is None else orjson.dumps(shown).decode()
            typer.echo(f"    value: {text}")  # not rich: JSON brackets are not markup
    console.print(f"{len(letters)} dead letter(s) in {topic or 'every dead-letter topic'}.")


async def _replay(kafka: KafkaConnection, letters: list[DeadLetter]) -> ReplayReport:
    settings = RuntimeSettings()
    # The worker creates both topics at start; a replay before any worker ran creates them.
    replication = replication_for(await check_access(kafka), settings.replication_factor)
    await ensure_topics(kafka, history_plans(settings), replication_factor=replication)

    async def run(history: ReplayHistory) -> ReplayReport:
        return await replay(kafka, letters, history=history, quarantine=quarantine_topic(settings),
                            max_replays=settings.dlq_max_replays)  # fmt: skip

    return await _with_history(kafka, run)


@app.command("replay")
def replay_command(
    topic: Topic = None,
    offset: Annotated[
        list[int] | None, typer.Option(help="Offsets to replay (repeatable; needs TOPIC).")
    ] = None,
    bootstrap: Bootstrap = None,
    error_class: ErrorClass = None,
    correlation_id: Correlation = None,
    since: Since = None,
    until: Until = None,
) -> None:
    """Re-send dead letters to the topic they failed on (safe: sinks are idempotent).

    Each dead letter is re-sent once (the replay history remembers it); one whose event failed
    BIZBUS_DLQ_MAX_REPLAYS replays goes to the quarantine topic instead.
    """
    if offset and topic is None:
        console.print("[red]error:[/red] --offset needs the dead-letter TOPIC.")
        raise typer.Exit(2)
    address = _kafka(bootstrap)
    letters = asyncio.run(
        _letters(address, topic, _filter(error_class, correlation_id, since, until))
    )
    if offset:
        wanted = set(offset)
        letters = [letter for letter in letters if letter.offset in wanted]
        missing = wanted - {letter.offset for letter in letters}
        if missing:
            console.print(f"[red]error:[/red] no such dead letter at offset(s) {sorted(missing)}.")
            raise typer.Exit(1)
    report = asyncio.run(_replay(address, letters))
    console.print(
        f"Replayed {report.replayed} dead letter(s) from {topic or 'every dead-letter topic'}; "
        f"quarantined {report.quarantined}; skipped {report.skipped} (re-sent before or "
        "quarantined)."
    )


@app.command("quarantined")
def quarantined_command(bootstrap: Bootstrap = None) -> None:
    """Show the events moved to quarantine after failing their replays, with their history."""
    kafka = _kafka(bootstrap)
    topic = quarantine_topic(RuntimeSettings())
    records = asyncio.run(read_dead_letters(kafka, topic))
    for record in records:
        story = orjson.loads(record.header(HISTORY_HEADER) or "{}")
        replays = ", ".join(
            f"{_time(r['at_ms'])} from {r['letter']}" for r in story.get("replays", [])
        )
        console.print(
            f"[bold]{escape(record.event_key)}[/bold] from {record.source_topic} "
            f"key={escape(repr(record.key))}\n"
            f"    {record.header(dl.ERROR_CLASS)}: {escape(record.header(dl.REASON))}\n"
            f"    replays: {replays or 'none'}"
        )
    console.print(f"{len(records)} quarantined event(s) in {topic}.")


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
