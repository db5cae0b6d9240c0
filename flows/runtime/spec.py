"""What a flow declares and the runtime runs: stages, tables, timers, pages, tasks and feeds.

A flow is a plain object whose `declare()` returns a Declaration. Its handlers return Outputs
(events to publish, table writes to make once those events are acked) instead of doing either,
so a test calls them and reads the answer. `deliver` is the one way Outputs take effect, in the
runtime and in tests alike. Nothing here knows faust or any business.
"""

from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
    MutableMapping,
    Sequence,
)
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol

from bizbus.connectors.base import Cursor, SourceRecord
from bizbus.flows.runtime.record import RawRecord
from bizbus.schemas import Envelope

__all__ = [
    "Batch",
    "Declaration",
    "Emit",
    "Feed",
    "Flow",
    "Output",
    "PageSpec",
    "Publish",
    "PushBatch",
    "PushSource",
    "Put",
    "StageSpec",
    "TableSpec",
    "Tables",
    "TaskSpec",
    "TimerSpec",
    "WebRequest",
    "WebResponse",
    "deliver",
    "fresh_tables",
]

Table = MutableMapping[str, Any]
Tables = Mapping[str, Table]
"""A flow's tables by name: faust tables in a worker, dicts in a test."""


@dataclass(frozen=True, slots=True)
class Emit:
    """An event for the runtime to publish, waiting for the broker's ack before going on."""

    event: Envelope[Any]
    topic: str | None = None
    """Logical catalog topic; None: the home topic of the event's type."""
    headers: tuple[tuple[str, bytes], ...] = ()
    """Headers appended to the event's own (e.g. a marker of a retried command)."""


@dataclass(frozen=True, slots=True)
class Put:
    """A table write made once every Emit before it in the same Outputs is acked.

    State that says "done" (announced, placed, no longer parked) must not get ahead of the
    events it stands for: a crash or a retry in between would then skip them for good.
    """

    table: Table
    key: str
    value: Any
    """The new value; None removes the key."""


Output = Emit | Put
Publish = Callable[[Emit], Awaitable[None]]
StageHandler = Callable[[RawRecord], Awaitable[list[Output]]]
TimerHandler = Callable[[], Awaitable[list[Output]]]
ReadChanges = Callable[[Cursor | None], AsyncIterator[SourceRecord]]
Correlate = Callable[[SourceRecord], str | None]
Prefetch = Callable[[Mapping[str, Cursor | None]], Awaitable[None]]


async def deliver(outputs: Iterable[Output], publish: Publish) -> None:
    """Make `outputs` take effect in order: publish each Emit (acked), then apply each Put."""
    for output in outputs:
        if isinstance(output, Emit):
            await publish(output)
        elif output.value is None:
            output.table.pop(output.key, None)
        else:
            output.table[output.key] = output.value


@dataclass(frozen=True, slots=True)
class StageSpec:
    """One consuming step: records of `topic`, one at a time per partition, through `handler`.

    `systems` names the external systems the handler calls, so the runtime can hold only the
    stages a system that is down would fail. `pure`: the handler calls no system and reads or
    writes no table (only Emits), so the runtime may run it in batches outside faust.
    `broadcast`: every worker runs it on every record, for a stage that acts on each worker's
    own share of a table (it may read tables, never write them; no dead letters).
    `max_in_flight`: records handled at once (None: the worker's `stage_max_in_flight`), for a
    stage whose handlers share batched calls and need many records in hand to fill them.
    """

    name: str
    topic: str
    handler: StageHandler
    systems: frozenset[str] = frozenset()
    pure: bool = False
    broadcast: bool = False
    max_in_flight: int | None = None

    def __post_init__(self) -> None:
        if self.pure and self.systems:
            raise ValueError(f"stage {self.name} calls {sorted(self.systems)}: it is not pure")
        if self.pure and self.broadcast:
            raise ValueError(f"stage {self.name} is either pure (batched) or broadcast")


@dataclass(frozen=True, slots=True)
class TableSpec:
    """A keyed state table with a changelog; `global_`: every worker holds all of it.

    A table is written only from stages whose topic has as many partitions (faust's rule).
    With the rocksdb store a faust stage also reads a (non-global) table only in its record's
    partition, so a stage reads the rows its own record keys lead to, as on a scaled-out group.
    """

    name: str
    partitions: int
    global_: bool = False


@dataclass(frozen=True, slots=True)
class TimerSpec:
    """A handler run every `interval_s` on each worker; what it returns is delivered.

    `on_leader`: only on the group's leader (work the group should do once, not per worker).
    """

    name: str
    interval_s: float
    handler: TimerHandler
    on_leader: bool = False


@dataclass(frozen=True, slots=True)
class WebRequest:
    """An HTTP request to a flow's page, as raw bytes (webhooks verify signatures on them)."""

    method: str
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    """The URL's query parameters (DingTalk signs its callbacks there)."""


@dataclass(frozen=True, slots=True)
class WebResponse:
    """A page's answer."""

    status: int
    body: bytes
    content_type: str = "application/json"


PageHandler = Callable[[WebRequest, Publish], Awaitable[WebResponse]]


@dataclass(frozen=True, slots=True)
class PageSpec:
    """An endpoint on the worker's web server.

    The handler gets a `publish` for sources that must answer only once their records are acked
    (webhooks); pages run outside stages, so they never write tables.
    """

    path: str
    handler: PageHandler
    name: str
    method: Literal["GET", "POST"] = "GET"
    public: bool = False
    """Served without the web token: only a webhook, whose handler checks its sender's proof."""


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """A start-up action (e.g. a subscription), retried with backoff until it succeeds once."""

    name: str
    handler: Callable[[], Awaitable[None]]
    first_delay_s: float = 5.0
    max_delay_s: float = 300.0
    while_failing: str = ""
    """What stays off until it succeeds, for the log."""


@dataclass(frozen=True)
class Batch:
    """Feeds of one system read in one call: the poller polls them on the same tick.

    `prefetch({key: cursor})` reads the first page of each due feed at once (a Salesforce
    Composite request) and keeps each answer, or each feed's own error, for its `read`.
    """

    name: str
    key: str
    """This feed's name within the batch (e.g. its CRM object)."""
    prefetch: Prefetch


@dataclass(frozen=True)
class Feed:
    """One change feed and where its raw records go.

    `name` is its cursor key; `read(since)` yields the changes after `since` once, then ends.
    """

    name: str
    system: Literal["crm", "erp", "oa"]
    topic: str
    read: ReadChanges
    # The deal a record belongs to, when the record says (e.g. a CRM order id): its raw event
    # then carries the deal's correlation id, so `bizbus trace` finds it with the deal.
    correlate: Correlate | None = None
    # Seconds between two polls of this feed after a change; None: BIZBUS_POLL_INTERVAL_S.
    interval_s: float | None = None
    # Feeds read together in one call (they then share one cadence), or None.
    batch: Batch | None = None
    # The object its records carry (`SourceRecord.entity`): a push subscription of the system
    # routes the records it receives to the feed of their object. None: poll only.
    entity: str | None = None


class PushBatch(Protocol):
    """What a push subscription delivers at once (e.g. one Pub/Sub API response)."""

    @property
    def records(self) -> Sequence[SourceRecord]:
        """The changed records, in order."""
        ...

    @property
    def replay_id(self) -> bytes:
        """The position to resume after once the records are published (empty: none yet)."""
        ...

    @property
    def catch_up(self) -> frozenset[str]:
        """Objects whose changes the subscription could not list: poll them now."""
        ...


@dataclass(frozen=True)
class PushSource:
    """A system's push subscription (Salesforce Change Data Capture), beside its polled feeds.

    `safety_poll_s()` says whether push is on (the interval of the polls kept as a safety
    net) or off (None: the system is polled as usual); `open(objects, position)` subscribes
    after a stored position (None: from now) and yields batches until closed, raising
    `CursorExpired` when the position is no longer kept.
    """

    system: Literal["crm", "erp", "oa"]
    safety_poll_s: Callable[[], Awaitable[float | None]]
    open: Callable[[frozenset[str], bytes | None], AsyncGenerator[PushBatch, None]]


@dataclass(frozen=True)
class HintSource:
    """A system that says by webhook what changed (Odoo automation rules): hints, never data.

    The runtime serves `POST <path>/<token>`: a token `accepts` refuses is 404 before the body
    is read; a body `parse` refuses (ValueError) is 400; otherwise the feeds of the object it
    names (all of the system's feeds when none carries it) are polled at once by the system's
    poll owner, so records are read through the API and published once per version.
    `safety_poll_s()` says whether push is on (the interval of the polls kept as a safety net)
    or off (None: the system is polled as usual and the path answers 404).
    """

    system: Literal["crm", "erp", "oa"]
    path: str
    safety_poll_s: Callable[[], Awaitable[float | None]]
    accepts: Callable[[str], Awaitable[bool]]
    parse: Callable[[bytes], str]


@dataclass(frozen=True)
class Declaration:
    """Everything a flow asks the runtime to run (its tables are declared on its class).

    `emits` names the catalog topics its stages, timers and pages publish to (its feeds'
    topics count by themselves): the worker's ACLs are derived from it, and the runtime
    refuses to publish anywhere else.
    """

    stages: tuple[StageSpec, ...] = ()
    timers: tuple[TimerSpec, ...] = ()
    pages: tuple[PageSpec, ...] = ()
    tasks: tuple[TaskSpec, ...] = ()
    feeds: tuple[Feed, ...] = ()
    emits: tuple[str, ...] = ()


class Flow(Protocol):
    """A business flow: built from its dependencies and tables, it declares what to run."""

    TABLES: ClassVar[tuple[TableSpec, ...]]

    def declare(self) -> Declaration:
        """Return the stages, timers, pages, tasks and feeds of the flow."""
        ...


def fresh_tables(*specs: TableSpec) -> dict[str, Table]:
    """Return an empty dict per table: a flow's state outside a worker (tests, tools)."""
    return {spec.name: {} for spec in specs}
