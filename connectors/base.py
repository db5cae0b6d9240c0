"""Connector contracts: records with cursors, Source/Sink protocols and the polling cursor logic.

``next_poll`` is pure: given one poll's rows and the previous state it returns what to emit and
the next state, losing no row on equal timestamps and repeating none forever (overlap window).
"""

from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

__all__ = [
    "ApplyResult",
    "Cursor",
    "FeedStates",
    "Outcome",
    "PollBatch",
    "PollState",
    "Sink",
    "SinkCommand",
    "Source",
    "SourceRecord",
    "next_poll",
]

T = TypeVar("T")


@dataclass(frozen=True, order=True, slots=True)
class Cursor:
    """A position in a change feed: modification time, then id as tie-break.

    Attributes:
        modified: Timezone-aware modification time (``SystemModstamp``, ``write_date``, ...).
        id: The record id, compared as text within one feed.
    """

    modified: datetime
    id: str

    def __post_init__(self) -> None:
        if self.modified.tzinfo is None:
            raise ValueError("Cursor.modified must be timezone-aware")

    def since(self, overlap: timedelta) -> datetime:
        """Lower bound for the next query: ``modified - overlap`` (re-reads late commits)."""
        return self.modified - overlap

    def to_text(self) -> str:
        """Serialize as ``<iso time>|<id>`` (store it as the source offset)."""
        return f"{self.modified.isoformat()}|{self.id}"

    @classmethod
    def from_text(cls, text: str) -> "Cursor":
        """Parse what ``to_text`` wrote."""
        when, _, ident = text.partition("|")
        return cls(datetime.fromisoformat(when), ident)


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One change read from a system.

    Attributes:
        entity: The system's object name (``Order``, ``sale.order``, ``approval_instance``).
        id: The system's id of the record.
        cursor: Where the feed stands once this record is handled (commit after the write).
        payload: The record as the system returned it.
        modified_at: When the system says it changed.
        origin: Who authored the change (user id or ``changeOrigin``), for echo suppression.
        client: Client hint of the change (e.g. Salesforce ``client=`` call option), if any.
        deleted: True when the change is a deletion.
    """

    entity: str
    id: str
    cursor: Cursor
    payload: Mapping[str, Any]
    modified_at: datetime
    origin: str | None = None
    client: str | None = None
    deleted: bool = False


@runtime_checkable
class Source(Protocol):
    """A change feed: ``changes`` yields records in cursor order, each with its cursor."""

    def changes(self, entity: str, since: Cursor | None) -> AsyncIterator[SourceRecord]:
        """Yield the changes of ``entity`` after ``since`` (None: from the beginning)."""
        ...


class Outcome(StrEnum):
    """What an idempotent apply did."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True)
class SinkCommand:
    """A write to apply to a system, keyed so that applying it twice changes nothing.

    Attributes:
        entity: Target object (``Order``, ``sale.order``, ``orders``).
        external_key: Our stable key of the record (the upsert key in the target).
        payload: Fields to write.
        idempotency_key: Key of this exact write (e.g. the event id); derived when None.
        correlation_id: The business correlation id, for tracing.
    """

    entity: str
    external_key: str
    payload: Mapping[str, Any]
    idempotency_key: str | None = None
    correlation_id: str | None = None


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """Result of ``Sink.apply``: the outcome and the target system's ids of the record."""

    outcome: Outcome
    external_ids: Mapping[str, str] = field(default_factory=dict)


@runtime_checkable
class Sink(Protocol):
    """Applies commands idempotently: the same command twice leaves the target unchanged."""

    async def apply(self, command: SinkCommand) -> ApplyResult:
        """Write ``command`` to the system and say what happened."""
        ...


@dataclass(frozen=True, slots=True)
class PollState:
    """Polling state between two polls of one entity.

    Attributes:
        cursor: Highest position emitted so far (None before the first poll).
        seen: Positions emitted inside the overlap window (so a re-read is not re-emitted).
        floor: Positions at or below this are never emitted again (set when ``seen`` is full).
    """

    cursor: Cursor | None = None
    seen: frozenset[Cursor] = frozenset()
    floor: Cursor | None = None

    @classmethod
    def resume(cls, since: Cursor | None) -> "PollState":
        """The state to resume from a committed cursor.

        The overlap before ``since`` is read again, so a row committed late is not lost; rows
        already emitted there come once more (at-least-once), the cursor's own row does not.
        """
        if since is None:
            return cls()
        return cls(cursor=since, seen=frozenset({since}))

    def since(self, overlap: timedelta) -> datetime | None:
        """Lower bound for the next query (``modified >= since``), or None for a full read."""
        return self.cursor.since(overlap) if self.cursor is not None else None

    def lowest(self, overlap: timedelta) -> Cursor | None:
        """Positions at or below the returned one are old news."""
        if self.cursor is None:
            return self.floor
        window = Cursor(self.cursor.modified - overlap, "")
        return window if self.floor is None else max(window, self.floor)


@dataclass(frozen=True, slots=True)
class PollBatch(Generic[T]):
    """What one poll yields: rows to emit (in cursor order) and the state after them."""

    emit: list[tuple[T, Cursor]]
    state: PollState


def next_poll(
    rows: Iterable[T],
    state: PollState,
    *,
    key: Callable[[T], Cursor],
    overlap: timedelta,
    max_seen: int = 10_000,
) -> PollBatch[T]:
    """Decide which rows of one poll are new and where the feed stands afterwards.

    The query must read every row with ``modified >= state.since(overlap)`` (all pages).
    A row is emitted when its position is above ``state.lowest(overlap)`` and not in
    ``state.seen``; so rows sharing a timestamp are all emitted, a row committed late (inside
    the overlap) is still emitted, and a re-read row is not repeated. When more than
    ``max_seen`` positions fall inside the window, the oldest are dropped and ``floor`` rises
    above them (late commits below it are then lost: size the overlap and ``max_seen`` for
    the system's write rate).

    Args:
        rows: The rows of one poll, in any order.
        state: The state returned by the previous poll (``PollState()`` the first time).
        key: Position of a row (its modification time and id).
        overlap: How far back each query re-reads, to catch late commits and clock skew.
        max_seen: Bound on remembered positions.

    Returns:
        The rows to emit with their cursors, in cursor order, and the next state.
    """
    lowest = state.lowest(overlap)
    emit: list[tuple[T, Cursor]] = []
    seen = set(state.seen)
    for row in sorted(rows, key=key):
        position = key(row)
        if position in seen or (lowest is not None and position <= lowest):
            continue
        seen.add(position)
        emit.append((row, position))
    high = state.cursor
    if emit and (high is None or emit[-1][1] > high):
        high = emit[-1][1]
    if high is None:
        return PollBatch(emit=emit, state=state)
    window = Cursor(high.modified - overlap, "")
    kept = sorted(p for p in seen if p > window)
    floor = state.floor
    if len(kept) > max_seen:
        dropped, kept = kept[: len(kept) - max_seen], kept[len(kept) - max_seen :]
        floor = dropped[-1] if floor is None else max(floor, dropped[-1])
    return PollBatch(emit=emit, state=PollState(cursor=high, seen=frozenset(kept), floor=floor))


class FeedStates:
    """Each feed's polling state after its last pass, kept by a connector between calls.

    A pass resumed from the feed's own last cursor continues from the remembered state and
    repeats nothing; any other cursor (a restart, another worker's) resumes with the overlap.
    """

    def __init__(self) -> None:
        self._states: dict[str, PollState] = {}

    def resume(self, entity: str, since: Cursor | None) -> PollState:
        """Return the state to poll ``entity`` from ``since``."""
        remembered = self._states.get(entity)
        if since is not None and remembered is not None and remembered.cursor == since:
            return remembered
        return PollState.resume(since)

    def remember(self, entity: str, state: PollState) -> None:
        """Keep ``state`` as where ``entity``'s feed stands now."""
        self._states[entity] = state
