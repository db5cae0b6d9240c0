"""Topic catalog: naming rules, one home topic per event type, a dead-letter topic for each."""

import re
from pathlib import Path

import pytest

from bizbus.schemas import (
    EVENT_TYPES,
    TOPICS,
    SourceRecordCapturedV1,
    dlq_for,
    encode_record,
    parse_event,
    source_topic,
    topic_for,
)
from bizbus.schemas.topics import TopicSpec


def test_topic_names_are_lowercase_dotted_without_underscores() -> None:
    for name, topic in TOPICS.items():
        assert name == topic.name
        assert re.fullmatch(r"(src|biz|cmd)(\.[a-z][a-z0-9-]*)+", name.removesuffix(".dlq")), name
        assert "_" not in name


def test_every_consumed_topic_has_a_dead_letter_topic_with_the_same_types() -> None:
    consumed = [t for t in TOPICS.values() if t.kind != "dlq"]
    assert consumed
    for topic in consumed:
        dlq = TOPICS[dlq_for(topic.name)]
        assert dlq.kind == "dlq"
        assert dlq.dead_letter_of == topic.name
        assert dlq.event_types == topic.event_types
    assert len(TOPICS) == 2 * len(consumed)


def test_every_event_type_has_one_home_topic_except_raw_records() -> None:
    for event_type in EVENT_TYPES:
        if event_type == SourceRecordCapturedV1.EVENT_TYPE:
            with pytest.raises(KeyError, match="source_topic"):
                topic_for(event_type)
            continue
        home = topic_for(event_type)
        assert TOPICS[home].kind in ("biz", "cmd")
        assert event_type in TOPICS[home].event_types
    assert topic_for("bizbus.sales.order.placed.v1") == "biz.sales.order"
    assert topic_for("bizbus.sales.sales-order.requested.v1") == "cmd.erp.sales-order"


def test_every_topic_carries_only_registered_types() -> None:
    for topic in TOPICS.values():
        assert topic.event_types
        assert set(topic.event_types) <= set(EVENT_TYPES), topic.name


def test_state_topics_are_compacted_and_history_topics_are_not() -> None:
    assert TOPICS["biz.inventory.stock"].config() == {"cleanup.policy": "compact"}
    assert TOPICS["biz.sales.account"].compacted
    assert TOPICS["biz.catalog.product-model"].compacted
    assert TOPICS["biz.pricing.price"].compacted
    history = TOPICS["biz.sales.order"].config()
    assert history["cleanup.policy"] == "delete"
    assert int(history["retention.ms"]) == 7 * 24 * 3600 * 1000
    assert all(not t.compacted for t in TOPICS.values() if t.kind in ("dlq", "cmd", "src"))


def test_source_and_dead_letter_lookups_fail_loudly_for_unknown_names() -> None:
    assert source_topic("crm", "order") == "src.crm.order"
    with pytest.raises(KeyError):
        source_topic("crm", "banana")
    with pytest.raises(ValueError, match="dead-letter topic"):
        dlq_for("biz.sales.order.dlq")
    with pytest.raises(KeyError):
        topic_for("bizbus.nope.nope.happened.v1")


def test_dead_letter_topic_name_is_the_topic_plus_dlq_prefixed_or_not() -> None:
    assert dlq_for("biz.sales.order") == "biz.sales.order.dlq"
    assert dlq_for("staging.biz.sales.order") == "staging.biz.sales.order.dlq"


def test_topic_spec_refuses_names_that_break_the_rule() -> None:
    with pytest.raises(ValueError, match="naming rule"):
        TopicSpec("biz.sales_order", "biz", 1, False, "k", ("t",), "d")
    with pytest.raises(ValueError, match="kind"):
        TopicSpec("cmd.erp.sales-order", "biz", 1, False, "k", ("t",), "d")


def test_record_key_is_the_subject_and_the_canonical_key() -> None:
    fixtures = Path(__file__).parents[1] / "fixtures" / "events"
    for path in sorted(fixtures.glob("*.json")):
        event = parse_event(path.read_bytes())
        key, _, _ = encode_record(event)
        assert key == event.subject.encode()
        assert event.subject == event.data.entity_key()
