"""Which dead letters an operator's filter picks, and how an event is known across replays."""

from bizbus.flows.runtime import deadletter as dl
from bizbus.flows.runtime.dlq_admin import DeadLetter, LetterFilter
from bizbus.flows.runtime.dlq_history import event_key


def _letter(error: str, deal: str, failed_ms: int, *, event_id: str = "ev-1") -> DeadLetter:
    headers = [
        ("ce_id", event_id.encode()),
        ("ce_correlationid", deal.encode()),
        (dl.ERROR_CLASS, error.encode()),
        (dl.FAILED_AT, str(failed_ms).encode()),
    ]
    return DeadLetter("biz.x.dlq", 0, 3, b"k", b"v", headers, timestamp_ms=1)


def test_every_given_criterion_must_hold() -> None:
    letter = _letter("RejectedError", "deal-1", 5_000)
    assert LetterFilter().matches(letter) and LetterFilter().empty
    assert LetterFilter(error_class="RejectedError", correlation_id="deal-1").matches(letter)
    assert not LetterFilter(error_class="SchemaError").matches(letter)
    assert not LetterFilter(error_class="RejectedError", correlation_id="deal-2").matches(letter)


def test_the_time_range_is_of_the_failure_start_inclusive_end_exclusive() -> None:
    letter = _letter("RejectedError", "deal-1", 5_000)
    assert LetterFilter(since_ms=5_000, until_ms=5_001).matches(letter)
    assert not LetterFilter(since_ms=5_001).matches(letter)
    assert not LetterFilter(until_ms=5_000).matches(letter)


def test_without_a_failure_header_the_record_time_counts() -> None:
    letter = DeadLetter("biz.x.dlq", 0, 3, b"k", b"v", [], timestamp_ms=42)
    assert letter.failed_at_ms == 42
    assert LetterFilter(since_ms=40, until_ms=50).matches(letter)


def test_an_event_is_known_by_its_id_else_by_what_it_carries() -> None:
    assert _letter("E", "d", 1, event_id="ev-9").event_key == "ev-9"
    assert event_key("", b"k", b"v") == event_key("", b"k", b"v")
    assert event_key("", b"k", b"v") != event_key("", b"kv", b"")
    assert _letter("E", "d", 1).position == "biz.x.dlq/0/3"
