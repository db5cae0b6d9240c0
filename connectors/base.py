"""Connector contracts: records with cursors, Source/Sink protocols and the polling cursor logic.

``next_poll`` is pure: given one poll's rows and the previous state it returns what to emit and
the next state, losing no row on equal timestamps, no change that keeps a row's timestamp (a
content digest or version tells it), and repeating nothing forever (overlap window).
"""

import hashlib
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

import orjson

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
    "content_digest",
    "next_poll",
]

T = TypeVar("T")


@dataclass(frozen=True, order=True, slots=True)
class Cursor:
    """A position in a change feed: modification time, then id as tie-break.

    Two cursors are equal and ordered by position only; ``version`` rides along so that a
    resumed feed knows which content of the cursor's own row was already emitted.

    Attributes:
        modified: Timezone-aware modification time (``SystemModstamp``, ``write_date``, ...).
        id: The record id, compared as text within one feed.
        version: Digest of the row's content at this position when it was emitted (None: unknown).
    """

    modified: datetime
    id: str
    version: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.modified.tzinfo is None:
            raise ValueError("Cursor.modified must be timezone-aware")
        if self.version is not None and "|" in self.version:
            raise ValueError("Cursor.version must not contain '|'")

    def since(self, overlap: timedelta) -> datetime:
        """Lower bound for the next query: ``modified - overlap`` (re-reads late commits)."""
        return self.modified - overlap

    def to_text(self) -> str:
        """Serialize as ``<iso time>|<id>``, or ``<iso time>#<version>|<id>`` with a version.

        The version sits in the time part, which never holds ``#`` or ``|``, so ids may hold
        either and texts stored before versions existed still parse.
        """
        when = self.modified.isoformat()
        if self.version is not None:
            when = f"{when}#{self.version}"
        return f"{when}|{self.id}"

    @classmethod
    def from_text(cls, text: str) -> "Cursor":
        """Parse what ``to_text`` wrote (with or without a version)."""
        head, _, ident = text.partition("|")
        when, _, version = head.partition("#")
        return cls(datetime.fromisoformat(when), ident, version or None)


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


def _plain(value: Any) -> Any:
    """What orjson cannot write itself: read-only mappings and decimals (as text)."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot digest a {type(value).__name__}")


def content_digest(content: Any) -> str:
    """A short stable digest of a row's content: blake2b (12 bytes, hex) of its sorted JSON.

    Stable across processes (keys sorted, no memory addresses), so a digest stored in a cursor
    still matches after a restart.

    Raises:
        TypeError: ``content`` holds a value JSON cannot express (e.g. an arbitrary object).
    """
    options = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
    data = orjson.dumps(content, default=_plain, option=options)
    return hashlib.blake2b(data, digest_size=12).hexdigest()


def _nothing_seen() -> Mapping[str, Cursor]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class PollState:
    """Polling state between two polls of one entity.

    Attributes:
        cursor: Highest position emitted so far, with the version emitted there (None before
            the first poll).
        seen: For each row emitted inside the overlap window, by id: the position and version
            it was last emitted with (a re-read row is emitted again only when either differs).
        floor: Positions at or below this are never emitted again (set when ``seen`` is full).
    """

    cursor: Cursor | None = None
    seen: Mapping[str, Cursor] = field(default_factory=_nothing_seen)
    floor: Cursor | None = None

    @classmethod
    def resume(cls, since: Cursor | None) -> "PollState":
        """The state to resume from a committed cursor.

        The overlap before ``since`` is read again, so a row committed late is not lost; rows
        already emitted there come once more (at-least-once). The cursor's own row comes again
        only when its content differs from ``since.version``, or when ``since`` carries no
        version (a cursor stored before versions were kept): at-least-once, never a loss.
        """
        if since is None:
            return cls()
        if since.version is None:
            return cls(cursor=since)
        return cls(cursor=since, seen=MappingProxyType({since.id: since}))

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
    """What one poll yields: rows to emit (in cursor order) and the state after them.

    Attributes:
        emit: Each row with its own position (carrying the row's version).
        state: The state after this poll.
        commits: For each emitted row, the cursor to commit once it is handled: the highest
            position emitted so far, so committed cursors never decrease even when a row
            below the high cursor (a late commit, a changed re-read) is emitted.
    """

    emit: list[tuple[T, Cursor]]
    state: PollState
    commits: list[Cursor]


def next_poll(
    rows: Iterable[T],
    state: PollState,
    *,
    key: Callable[[T], Cursor],
    overlap: timedelta,
    version: Callable[[T], Any] | None = None,
    max_seen: int = 10_000,
) -> PollBatch[T]:
    """Decide which rows of one poll are new and where the feed stands afterwards.

    The query must read every row with ``modified >= state.since(overlap)`` (all pages).
    A row is emitted when its position is above ``state.lowest(overlap)`` and it was not last
    emitted (``state.seen``, by id) at this position with this version. So rows sharing a
    timestamp are all emitted, a row committed late (inside the overlap) is still emitted, a
    re-read row whose content changed without moving its position (two writes in one second of
    Odoo's ``write_date``, one millisecond of ``SystemModstamp``) is emitted again, and a
    re-read unchanged row is not.

    A row's version is ``content_digest`` of the whole row by default, so any change the feed
    can see counts. A system that keeps its own version per record (a revision number, an
    ETag) passes ``version=lambda row: row["revision"]``: only a new revision re-emits, and
    fields that drift without a write (computed stock levels) are then ignored. Either way
    the value is kept as its digest, so memory per position stays fixed.

    Memory is bounded: one entry per row emitted inside the window, at most ``max_seen``.
    When more rows fall inside it, the oldest positions are dropped and ``floor`` rises above
    them; rows at or below the floor are never emitted again, so a late commit or a
    same-timestamp change of such a row is lost. Size the overlap and ``max_seen`` for the
    system's write rate (``max_seen`` rows changed within one overlap).

    Args:
        rows: The rows of one poll, in any order.
        state: The state returned by the previous poll (``PollState()`` the first time).
        key: Position of a row (its modification time and id).
        overlap: How far back each query re-reads, to catch late commits and clock skew.
        version: The row's version (default: the row itself), digested to tell changes apart.
        max_seen: Bound on remembered positions.

    Returns:
        The rows to emit with their positions, in position order, the cursor to commit after
        each, and the next state.
    """
    lowest = state.lowest(overlap)
    emit: list[tuple[T, Cursor]] = []
    seen = dict(state.seen)
    for row in sorted(rows, key=key):
        at = key(row)
        if lowest is not None and at <= lowest:
            continue
        digest = content_digest(row if version is None else version(row))
        last = seen.get(at.id)
        if last is not None and last == at and last.version == digest:
            continue
        seen[at.id] = emitted = Cursor(at.modified, at.id, digest)
        emit.append((row, emitted))
    high = state.cursor
    commits: list[Cursor] = []
    for _, at in emit:
        if high is None or at >= high:
            high = at  # on an equal position, take the newer version
        elif at.id == high.id:
            # The cursor's row moved below it: the version no longer says what was emitted
            # last of that row, so a resume from this cursor re-emits its row (at-least-once).
            high = Cursor(high.modified, high.id)
        commits.append(high)
    if high is None:
        return PollBatch(emit=emit, state=state, commits=commits)
    window = Cursor(high.modified - overlap, "")
    kept = sorted(at for at in seen.values() if at > window)
    floor = state.floor
    if len(kept) > max_seen:
        dropped, kept = kept[: len(kept) - max_seen], kept[len(kept) - max_seen :]
        floor = dropped[-1] if floor is None else max(floor, dropped[-1])
    remembered = MappingProxyType({at.id: at for at in kept})
    return PollBatch(
        emit=emit, state=PollState(cursor=high, seen=remembered, floor=floor), commits=commits
    )


class FeedStates:
    """Each feed's polling state after its last pass, kept by a connector between calls.

    A pass resumed from the feed's own last cursor (same position and version) continues from
    the remembered state and repeats nothing; any other cursor (a restart, another worker's)
    resumes with the overlap (``PollState.resume``).
    """

    def __init__(self) -> None:
        self._states: dict[str, PollState] = {}

    def resume(self, entity: str, since: Cursor | None) -> PollState:
        """Return the state to poll ``entity`` from ``since``."""
        remembered = self._states.get(entity)
        if (
            since is not None
            and remembered is not None
            and remembered.cursor == since
            and remembered.cursor.version == since.version
        ):
            return remembered
        return PollState.resume(since)

    def remember(self, entity: str, state: PollState) -> None:
        """Keep ``state`` as where ``entity``'s feed stands now."""
        self._states[entity] = state
