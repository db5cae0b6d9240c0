"""Polling cursor logic: equal timestamps, changes within one timestamp, late commits, resume.

Also overlap and bounded memory; a property-based model of a polled table checks them together.
"""

import itertools
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bizbus.connectors.base import (
    Cursor,
    FeedStates,
    PollBatch,
    PollState,
    content_digest,
    next_poll,
)

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
OVERLAP = timedelta(seconds=5)


@dataclass(frozen=True)
class Row:
    id: str
    modified: datetime
    content: str = ""


def key(row: Row) -> Cursor:
    return Cursor(row.modified, row.id)


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def query(db: dict[str, Row], state: PollState, rng: random.Random) -> list[Row]:
    since = state.since(OVERLAP)
    rows = [r for r in db.values() if since is None or r.modified >= since]
    rng.shuffle(rows)  # the function must not depend on the order pages arrive in
    return rows


def test_first_poll_emits_everything_in_cursor_order() -> None:
    rows = [Row("b", at(1)), Row("a", at(1)), Row("c", at(0))]
    batch = next_poll(rows, PollState(), key=key, overlap=OVERLAP)
    assert [r.id for r, _ in batch.emit] == ["c", "a", "b"]
    assert [c for _, c in batch.emit] == [key(r) for r, _ in batch.emit]
    assert batch.state.cursor == Cursor(at(1), "b")


def test_rows_sharing_a_timestamp_are_never_lost() -> None:
    # Poll 1 sees a and b at t=1; c commits afterwards with the same timestamp and a smaller id.
    first = next_poll([Row("b", at(1)), Row("d", at(1))], PollState(), key=key, overlap=OVERLAP)
    second = next_poll(
        [Row("b", at(1)), Row("d", at(1)), Row("a", at(1))],
        first.state,
        key=key,
        overlap=OVERLAP,
    )
    assert [r.id for r, _ in second.emit] == ["a"]


def test_idle_polls_repeat_nothing() -> None:
    rows = [Row(str(i), at(3)) for i in range(10)]
    state = next_poll(rows, PollState(), key=key, overlap=OVERLAP).state
    for _ in range(5):
        batch = next_poll(rows, state, key=key, overlap=OVERLAP)
        assert batch.emit == []
        state = batch.state


def test_updated_row_is_emitted_again_with_its_new_timestamp() -> None:
    state = next_poll([Row("a", at(1))], PollState(), key=key, overlap=OVERLAP).state
    batch = next_poll([Row("a", at(2))], state, key=key, overlap=OVERLAP)
    assert [c for _, c in batch.emit] == [Cursor(at(2), "a")]


def test_rows_older_than_the_window_are_not_re_emitted() -> None:
    state = next_poll([Row("a", at(100))], PollState(), key=key, overlap=OVERLAP).state
    batch = next_poll([Row("old", at(10)), Row("a", at(100))], state, key=key, overlap=OVERLAP)
    assert batch.emit == []


def test_resume_from_a_bare_cursor_re_emits_the_window_once() -> None:
    rows = [Row("a", at(1)), Row("b", at(8)), Row("c", at(10))]
    resumed = PollState(cursor=Cursor(at(10), "c"))
    first = next_poll(rows, resumed, key=key, overlap=OVERLAP)
    assert [r.id for r, _ in first.emit] == ["b", "c"]
    assert next_poll(rows, first.state, key=key, overlap=OVERLAP).emit == []


def test_seen_is_bounded_and_overflow_never_repeats_forever() -> None:
    rows = [Row(f"{i:03d}", at(1)) for i in range(50)]
    first = next_poll(rows, PollState(), key=key, overlap=OVERLAP, max_seen=10)
    assert len(first.emit) == 50
    assert len(first.state.seen) == 10
    assert first.state.floor == Cursor(at(1), "039")
    second = next_poll(rows, first.state, key=key, overlap=OVERLAP, max_seen=10)
    assert second.emit == []


def test_cursor_text_round_trip_and_naive_times_refused() -> None:
    cursor = Cursor(at(1), "a|b")
    assert Cursor.from_text(cursor.to_text()) == cursor
    with pytest.raises(ValueError, match="timezone"):
        Cursor(datetime(2026, 1, 1), "x")  # noqa: DTZ001  (the point of the test)


def test_cursor_text_carries_the_version_and_old_texts_still_parse() -> None:
    versioned = Cursor(at(1), "a|#b", "0a1b2c")
    back = Cursor.from_text(versioned.to_text())
    assert (back, back.id, back.version) == (versioned, "a|#b", "0a1b2c")
    old = Cursor.from_text("2026-05-01T08:00:01+00:00|000000000042")  # stored before versions
    assert (old, old.version) == (Cursor(at(1), "000000000042"), None)
    assert Cursor(at(1), "x", "v1") == Cursor(at(1), "x", "v2")  # ordered by position only
    with pytest.raises(ValueError, match="version"):
        Cursor(at(1), "x", "a|b")


def test_content_digest_is_stable_and_sees_every_field() -> None:
    row = {"id": 7, "state": "assigned", "lines": [{"qty": 1.0, "b": None}], "at": at(1)}
    same = {"at": at(1), "lines": [{"b": None, "qty": 1.0}], "state": "assigned", "id": 7}
    assert content_digest(row) == content_digest(same) == content_digest(MappingProxyType(same))
    assert content_digest(row) != content_digest({**row, "state": "done"})
    assert content_digest({"amount": Decimal("1.10")}) != content_digest({"amount": "1.1"})
    assert len(content_digest(row)) == 24
    with pytest.raises(TypeError):
        content_digest({"x": object()})


def test_a_row_changed_again_within_its_timestamp_is_emitted_again() -> None:
    state = next_poll([Row("a", at(1), "assigned")], PollState(), key=key, overlap=OVERLAP).state
    changed = next_poll([Row("a", at(1), "done")], state, key=key, overlap=OVERLAP)
    assert [(r.content, c) for r, c in changed.emit] == [("done", Cursor(at(1), "a"))]
    again = next_poll([Row("a", at(1), "done")], changed.state, key=key, overlap=OVERLAP)
    assert again.emit == []


def test_a_row_moved_back_to_a_position_it_held_before_is_emitted_again() -> None:
    # A transaction that started at t=1 commits after one stamped t=3 wrote the same row.
    state = next_poll([Row("a", at(1), "x")], PollState(), key=key, overlap=OVERLAP).state
    state = next_poll([Row("a", at(3), "y")], state, key=key, overlap=OVERLAP).state
    back = next_poll([Row("a", at(1), "x")], state, key=key, overlap=OVERLAP)
    assert [c for _, c in back.emit] == [Cursor(at(1), "a")]
    assert back.commits == [Cursor(at(3), "a")]  # the committed cursor does not move back


def test_commits_never_decrease_and_carry_the_version_of_their_row() -> None:
    rows = [Row("a", at(1)), Row("b", at(2)), Row("c", at(3))]
    first = next_poll(rows, PollState(), key=key, overlap=OVERLAP)
    assert first.commits == [c for _, c in first.emit]
    assert [c.version for c in first.commits] == [c.version for _, c in first.emit]
    changed = [Row("a", at(1), "late"), Row("c", at(3), "new"), Row("b", at(2))]
    second = next_poll(changed, first.state, key=key, overlap=OVERLAP)
    assert [r.id for r, _ in second.emit] == ["a", "c"]
    assert second.commits == [Cursor(at(3), "c")] * 2
    assert second.commits[0].version == first.commits[-1].version  # still c's old content
    assert second.commits[1].version == second.emit[1][1].version != first.commits[-1].version
    assert second.state.cursor is not None
    assert second.state.cursor.version == second.commits[-1].version


def test_a_version_field_replaces_the_digest_of_the_whole_row() -> None:
    def revision(row: dict[str, object]) -> object:
        return row["rev"]

    def position(row: dict[str, object]) -> Cursor:
        return Cursor(at(1), str(row["id"]))

    row = {"id": "a", "rev": 1, "qty_available": 5}
    state = next_poll([row], PollState(), key=position, overlap=OVERLAP, version=revision).state
    drift = {**row, "qty_available": 4}  # a computed field moved, no new revision
    assert next_poll([drift], state, key=position, overlap=OVERLAP, version=revision).emit == []
    bumped = {**drift, "rev": 2}
    assert next_poll([bumped], state, key=position, overlap=OVERLAP, version=revision).emit


def test_resume_skips_the_cursor_row_only_when_it_is_unchanged() -> None:
    rows = [Row("a", at(8)), Row("b", at(10), "v1")]
    committed = next_poll(rows, PollState(), key=key, overlap=OVERLAP).commits[-1]
    since = Cursor.from_text(committed.to_text())
    resumed = next_poll(rows, PollState.resume(since), key=key, overlap=OVERLAP)
    assert [r.id for r, _ in resumed.emit] == ["a"]  # the overlap again, not the cursor row
    rows[1] = Row("b", at(10), "v2")  # changed within its timestamp while we were down
    changed = next_poll(rows, PollState.resume(since), key=key, overlap=OVERLAP)
    assert [r.id for r, _ in changed.emit] == ["a", "b"]
    bare = PollState.resume(Cursor(at(10), "b"))  # a cursor stored before versions existed
    assert [r.id for r, _ in next_poll(rows, bare, key=key, overlap=OVERLAP).emit] == ["a", "b"]


def test_feed_states_reuse_only_the_state_of_the_same_cursor_and_version() -> None:
    feeds = FeedStates()
    batch = next_poll([Row("a", at(1))], PollState(), key=key, overlap=OVERLAP)
    feeds.remember("Order", batch.state)
    last = batch.commits[-1]
    assert feeds.resume("Order", last) is batch.state
    assert feeds.resume("Order", Cursor.from_text(last.to_text())) is batch.state
    other = feeds.resume("Order", Cursor(at(1), "a", "another"))
    assert other is not batch.state and other.seen == {"a": Cursor(at(1), "a")}
    assert feeds.resume("Order", Cursor(at(1), "a")) == PollState(cursor=Cursor(at(1), "a"))


@pytest.mark.parametrize("seed", range(40))
def test_random_histories_lose_nothing_and_repeat_nothing(seed: int) -> None:
    """Many writers, coarse timestamps, commits up to `OVERLAP` late, polls at random times."""
    rng = random.Random(seed)
    db: dict[str, Row] = {}
    state = PollState()
    emitted: dict[str, list[Cursor]] = {}
    for now in range(0, 120):
        for _ in range(rng.randint(0, 6)):
            lag = rng.randint(0, int(OVERLAP.total_seconds()))
            row_id = f"{rng.randint(0, 30):02d}"
            db[row_id] = Row(row_id, at(max(0, now - lag)))
        if rng.random() < 0.4 or now == 119:
            batch = next_poll(query(db, state, rng), state, key=key, overlap=OVERLAP)
            for row, cursor in batch.emit:
                emitted.setdefault(row.id, []).append(cursor)
            assert [c for _, c in batch.emit] == sorted(c for _, c in batch.emit)
            state = batch.state
            # Nothing lost: every row as it stands now is the last of its emissions.
            assert {r.id: key(r) for r in db.values()} == {i: c[-1] for i, c in emitted.items()}
    # Nothing repeated: a row is emitted again only at another position (a late commit may
    # move it back to one it held before: that is a change, and it is emitted).
    for cursors in emitted.values():
        assert all(a != b for a, b in itertools.pairwise(cursors))
    assert next_poll(query(db, state, rng), state, key=key, overlap=OVERLAP).emit == []


# -- property: a table written by many writers, polled page by page, restarted at random -------

ROW_IDS = [f"{i:02d}" for i in range(6)]
LAG_S = int(OVERLAP.total_seconds())  # commits up to one overlap late: the feed's promise
write_ops = st.tuples(
    st.just("write"),
    st.sampled_from(ROW_IDS),
    st.integers(0, LAG_S),
    st.sampled_from(["a", "b", "c"]),  # few contents: a row often returns to an earlier one
)
operations = st.lists(
    st.one_of(
        write_ops,
        write_ops,
        st.tuples(st.just("tick"), st.integers(0, 2)),
        st.tuples(st.just("poll"), st.integers(1, 4), st.lists(write_ops, max_size=3)),
        st.tuples(st.just("restart")),
    ),
    max_size=60,
)


class PolledTable:
    """A table with second-precision stamps, read like the dialects read it (keyset pages)."""

    def __init__(self) -> None:
        self.now = 0
        self.db: dict[str, Row] = {}
        self.state = PollState()
        self.committed: Cursor | None = None  # what the poller stored last
        self.resumed_from: Cursor | None = None
        self.epoch = 0  # restarts so far: a restart may repeat what was emitted before it
        self.emitted: dict[str, list[tuple[Cursor, str, int]]] = {}

    def write(self, row_id: str, lag: int, content: str) -> None:
        self.db[row_id] = Row(row_id, at(max(0, self.now - lag)), content)

    def restart(self) -> None:
        stored = self.committed.to_text() if self.committed else None
        self.resumed_from = Cursor.from_text(stored) if stored else None
        self.state = PollState.resume(self.resumed_from)
        self.epoch += 1

    def poll(self, page_size: int, between: list[tuple[str, str, int, str]]) -> set[str]:
        """One poll to its end; `between` are written between pages. Returns who was written."""
        written = {row_id for _, row_id, _, _ in between}
        since, after = self.state.since(OVERLAP), None
        while True:
            if after is None:
                found = [r for r in self.db.values() if since is None or r.modified >= since]
            else:
                found = [r for r in self.db.values() if key(r) > after]
            page = sorted(found, key=key)[:page_size]
            batch = next_poll(reversed(page), self.state, key=key, overlap=OVERLAP)
            self.check_batch(batch)
            self.state = batch.state
            if len(page) < page_size:
                return written
            after = key(page[-1])
            if between:
                self.write(*between.pop(0)[1:])

    def check_batch(self, batch: PollBatch[Row]) -> None:
        assert [c for _, c in batch.emit] == sorted(c for _, c in batch.emit)
        for (row, position), commit in zip(batch.emit, batch.commits, strict=True):
            assert position == key(row) and commit >= position
            assert self.committed is None or commit >= self.committed  # never backwards
            self.committed = commit
            history = self.emitted.setdefault(row.id, [])
            if history:
                last_at, last_content, epoch = history[-1]
                unchanged = (last_at, last_content) == (position, row.content)
                assert not (unchanged and epoch == self.epoch), f"{row} repeated unchanged"
                resumed = self.resumed_from
                if resumed is not None and resumed.version is not None and resumed == position:
                    assert not unchanged, f"{row} at the resumed cursor repeated unchanged"
            history.append((position, row.content, self.epoch))

    def check_nothing_lost(self, except_ids: set[str]) -> None:
        for row in self.db.values():
            if row.id in except_ids:
                continue  # written during the poll: the next poll owes it
            last_at, last_content, _ = self.emitted[row.id][-1]
            assert (last_at, last_content) == (key(row), row.content), f"lost {row}"

    def emissions(self) -> int:
        return sum(len(history) for history in self.emitted.values())


# The cursor's row moves below it and back before a restart: it must not be skipped then.
CURSOR_ROW_MOVES_AND_RETURNS: list[tuple[Any, ...]] = [
    ("tick", 5), ("write", "00", 0, "a"), ("poll", 4, []), ("write", "00", 2, "b"),
    ("poll", 4, []), ("write", "00", 0, "a"), ("restart",),
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(operations)
@example(CURSOR_ROW_MOVES_AND_RETURNS)
def test_property_the_last_version_of_every_row_is_emitted_and_no_unchanged_row_twice(
    ops: list[tuple[Any, ...]],
) -> None:
    table = PolledTable()
    for op in ops:
        match op:
            case ("write", row_id, lag, content):
                table.write(row_id, lag, content)
            case ("tick", seconds):
                table.now += seconds
            case ("poll", page_size, between):
                written = table.poll(page_size, list(between))
                table.check_nothing_lost(except_ids=written)
            case ("restart",):
                table.restart()
    table.poll(2, [])
    table.check_nothing_lost(except_ids=set())
    before = table.emissions()
    table.poll(3, [])
    assert table.emissions() == before  # caught up: an idle poll emits nothing
