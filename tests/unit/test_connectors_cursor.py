"""Polling cursor logic: equal timestamps, late commits, overlap, bounded memory."""

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from connectors.base import Cursor, PollState, next_poll

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
OVERLAP = timedelta(seconds=5)


@dataclass(frozen=True)
class Row:
    id: str
    modified: datetime


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


@pytest.mark.parametrize("seed", range(40))
def test_random_histories_lose_nothing_and_repeat_nothing(seed: int) -> None:
    """Many writers, coarse timestamps, commits up to `OVERLAP` late, polls at random times."""
    rng = random.Random(seed)
    db: dict[str, Row] = {}
    state = PollState()
    emitted: list[Cursor] = []
    for now in range(0, 120):
        for _ in range(rng.randint(0, 6)):
            lag = rng.randint(0, int(OVERLAP.total_seconds()))
            row_id = f"{rng.randint(0, 30):02d}"
            db[row_id] = Row(row_id, at(max(0, now - lag)))
        if rng.random() < 0.4 or now == 119:
            batch = next_poll(query(db, state, rng), state, key=key, overlap=OVERLAP)
            emitted.extend(c for _, c in batch.emit)
            assert [c for _, c in batch.emit] == sorted(c for _, c in batch.emit)
            state = batch.state
            # Nothing lost: every row as it stands now has been emitted.
            assert {key(r) for r in db.values()} <= set(emitted)
    # Nothing repeated: each (timestamp, id) version once.
    assert len(emitted) == len(set(emitted))
    assert next_poll(query(db, state, rng), state, key=key, overlap=OVERLAP).emit == []
