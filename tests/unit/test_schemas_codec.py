"""Kafka codec: binary-mode CloudEvents records, typed decoding, errors that name type and field."""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from cloudevents.core.bindings.kafka import (
    KafkaMessage,
    from_binary_event,
    to_binary_event,
    to_structured_event,
)
from cloudevents.core.v1.event import CloudEvent

from bizbus.schemas import (
    Envelope,
    KeyRing,
    OrderPlacedV1,
    SchemaError,
    StockChangedV1,
    decode_record,
    encode_record,
    make_event,
    parse_event,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "events"


def _fixture(event_type: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / f"{event_type}.json").read_text("utf-8"))
    return loaded


@pytest.fixture
def order_event() -> Envelope[Any]:
    return parse_event(_fixture("bizbus.sales.order.placed.v1"))


def test_record_is_binary_mode_with_ce_headers_and_the_entity_key(
    order_event: Envelope[Any],
) -> None:
    key, value, headers = encode_record(order_event)
    named = dict(headers)
    assert key == b"801J8000003aBcDIAU"
    assert named["content-type"] == b"application/json"
    assert named["ce_type"] == b"bizbus.sales.order.placed.v1"
    assert named["ce_specversion"] == b"1.0"
    assert named["ce_correlationid"] == b"deal-2025-0042"
    assert named["ce_origin"] == b"crm"
    assert named["ce_entityversion"] == b"1"
    assert named["ce_time"] == b"2025-05-12T15:20:31+08:00"
    assert "ce_causationid" not in named  # absent attributes are not sent as empty headers
    assert orjson.loads(value)["customer_name"] == "苏州瑞达电子有限公司"
    assert "苏州瑞达电子有限公司".encode() in value  # raw UTF-8, not \\u escapes


def test_decode_returns_the_typed_payload_equal_to_what_was_encoded(
    order_event: Envelope[Any],
) -> None:
    _, value, headers = encode_record(order_event)
    decoded = decode_record(value, headers)
    assert decoded == order_event
    assert isinstance(decoded.data, OrderPlacedV1)
    assert decoded.data.lines[1].unit_price.amount.as_tuple().exponent == -2


def test_utc_time_is_written_with_z_like_the_sdk() -> None:
    event = make_event(
        parse_event(_fixture("bizbus.inventory.stock.changed.v1")).data,
        source="/test",
        correlationid="c-1",
        origin="erp",
        time=datetime(2025, 6, 13, 9, 45, tzinfo=UTC),
    )
    assert dict(encode_record(event)[2])["ce_time"] == b"2025-06-13T09:45:00Z"
    assert event.subject == "SZ01:HX-200A"
    assert isinstance(event.data, StockChangedV1)


def test_make_event_rejects_a_naive_time_with_a_schema_error(
    order_event: Envelope[Any],
) -> None:
    with pytest.raises(SchemaError) as caught:
        make_event(
            order_event.data,
            source="/test",
            correlationid="c",
            origin="crm",
            time=datetime(2025, 1, 1),  # noqa: DTZ001 - the point of the test
        )
    assert caught.value.field == "time"
    assert caught.value.event_type == "bizbus.sales.order.placed.v1"


def test_a_bad_field_names_the_event_type_and_the_field(order_event: Envelope[Any]) -> None:
    _, value, headers = encode_record(order_event)
    body = orjson.loads(value)
    body["lines"][1]["unit_price"]["amount"] = "十万"
    with pytest.raises(SchemaError) as caught:
        decode_record(orjson.dumps(body), headers)
    assert caught.value.event_type == "bizbus.sales.order.placed.v1"
    assert caught.value.field == "data.lines.1.unit_price.amount"
    assert "bizbus.sales.order.placed.v1" in str(caught.value)
    assert "data.lines.1.unit_price.amount" in str(caught.value)
    assert "十万" not in str(caught.value)  # values never reach logs or dead-letter headers


def test_a_missing_required_field_is_named(order_event: Envelope[Any]) -> None:
    _, value, headers = encode_record(order_event)
    body = orjson.loads(value)
    del body["currency"]
    with pytest.raises(SchemaError) as caught:
        decode_record(orjson.dumps(body), headers)
    assert caught.value.field == "data.currency"


def test_a_bad_header_attribute_is_named(order_event: Envelope[Any]) -> None:
    _, value, headers = encode_record(order_event)
    headers = [(k, b"2025-05-12T15:20:31" if k == "ce_time" else v) for k, v in headers]
    with pytest.raises(SchemaError) as caught:
        decode_record(value, headers)
    assert caught.value.field == "time"


def test_an_unknown_event_type_is_a_schema_error(order_event: Envelope[Any]) -> None:
    _, value, headers = encode_record(order_event)
    headers = [
        (k, b"bizbus.sales.order.teleported.v1" if k == "ce_type" else v) for k, v in headers
    ]
    with pytest.raises(SchemaError) as caught:
        decode_record(value, headers)
    assert caught.value.event_type == "bizbus.sales.order.teleported.v1"
    assert caught.value.field == "type"


@pytest.mark.parametrize(
    ("value", "headers", "field"),
    [
        (b"{not json", [("ce_type", b"bizbus.sales.order.placed.v1")], "data"),
        (b"{}", [], "headers.ce_type"),
        (b"{}", [("ce_type", b"bizbus.sales.order.placed.v1"), ("content-type", b"text/xml")],
         "datacontenttype"),
        (b"{}", [("ce_type", b"\xff\xfe")], "headers.ce_type"),
    ],
)  # fmt: skip
def test_undecodable_records_raise_schema_error(
    value: bytes, headers: list[tuple[str, bytes]], field: str
) -> None:
    with pytest.raises(SchemaError) as caught:
        decode_record(value, headers)
    assert caught.value.field == field
    assert not caught.value.retriable


def test_unknown_ce_extensions_are_ignored(order_event: Envelope[Any]) -> None:
    _, value, headers = encode_record(order_event)
    headers = [*headers, ("ce_comexampleextension", b"value")]
    assert decode_record(value, headers) == order_event


TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_the_trace_context_travels_as_ce_traceparent(order_event: Envelope[Any]) -> None:
    traced = order_event.model_copy(update={"traceparent": TRACEPARENT, "tracestate": "k=v"})
    _, value, headers = encode_record(traced)
    assert ("ce_traceparent", TRACEPARENT.encode()) in headers
    assert ("ce_tracestate", b"k=v") in headers
    decoded = decode_record(value, headers)
    assert (decoded.traceparent, decoded.tracestate) == (TRACEPARENT, "k=v")
    assert decoded == traced


def test_a_malformed_traceparent_is_dropped_not_fatal(order_event: Envelope[Any]) -> None:
    _, value, headers = encode_record(order_event)
    short = [*headers, ("ce_traceparent", b"00-4bf92f3577b34da6-00f067aa0ba902b7-01")]
    assert decode_record(value, short).traceparent is None
    assert decode_record(value, short) == order_event


def test_headers_may_be_a_mapping_and_content_type_may_carry_a_charset(
    order_event: Envelope[Any],
) -> None:
    _, value, headers = encode_record(order_event)
    mapping = dict(headers) | {"Content-Type": b"application/json; charset=utf-8"}
    del mapping["content-type"]
    assert decode_record(value, mapping) == order_event


def test_the_sdk_reads_our_record_in_memory(order_event: Envelope[Any]) -> None:
    key, value, headers = encode_record(order_event)
    sdk_event = from_binary_event(KafkaMessage(headers=dict(headers), key=key, value=value))
    assert sdk_event.get_type() == "bizbus.sales.order.placed.v1"
    assert sdk_event.get_subject() == order_event.subject
    assert sdk_event.get_extension("correlationid") == "deal-2025-0042"
    data = sdk_event.get_data()
    assert isinstance(data, dict)
    assert data["customer_name"] == "苏州瑞达电子有限公司"


def test_we_read_sdk_binary_and_structured_records() -> None:
    data = _fixture("bizbus.inventory.stock.changed.v1")
    attributes = {k: v for k, v in data.items() if k not in ("data", "entityversion")}
    attributes["time"] = datetime.fromisoformat(attributes["time"])
    attributes["entityversion"] = 31
    for to_message in (to_binary_event, to_structured_event):
        message = to_message(CloudEvent(dict(attributes), data["data"]))
        event = decode_record(message.value, message.headers)
        assert isinstance(event.data, StockChangedV1)
        assert event.data.warehouse_name == "深圳成品仓"
        assert event.entityversion == 31


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda path: path.stem)
def test_every_event_decodes_from_bytes_as_the_general_path_does(path: Path) -> None:
    event = parse_event(json.loads(path.read_text("utf-8")))
    _, value, headers = encode_record(event)
    assert orjson.loads(value) == event.data.model_dump(mode="json")  # the JSON the payload gives
    assert decode_record(value, headers) == event
    attributes = {name.removeprefix("ce_"): raw.decode() for name, raw in headers if "_" in name}
    assert parse_event({**attributes, "data": orjson.loads(value)}) == event


def test_a_bad_attribute_is_named_before_a_bad_field(order_event: Envelope[Any]) -> None:
    _, value, headers = encode_record(order_event)
    body = orjson.loads(value)
    del body["currency"]
    headers = [(k, b"2025-05-12T15:20:31" if k == "ce_time" else v) for k, v in headers]
    with pytest.raises(SchemaError) as caught:
        decode_record(orjson.dumps(body), headers)
    assert caught.value.field == "time"  # the envelope's fields come before its data


@pytest.mark.parametrize(
    "tail",
    [
        b' , "id": "x"',
        b"]",
        b' {"a": 1}',
        b', "causationid": "x"',  # an attribute the headers lack: not set through the value
        b', "data": {"crm_order_id": "x"}',  # a second payload: never read instead of the first
        b', "d\\u0061ta": {"crm_order_id": "x"}',
    ],
)
def test_a_value_with_trailing_text_is_not_json(order_event: Envelope[Any], tail: bytes) -> None:
    """Nothing after the payload's object may set an attribute or stand in for the payload."""
    _, value, headers = encode_record(order_event)
    with pytest.raises(SchemaError) as caught:
        decode_record(value + tail, headers)
    assert caught.value.field == "data"


def test_a_header_that_is_not_utf8_is_named_even_among_good_ones(
    order_event: Envelope[Any],
) -> None:
    _, value, headers = encode_record(order_event)
    with pytest.raises(SchemaError) as caught:
        decode_record(value, [*headers, ("ce_traceparent", b"\xff")])
    assert caught.value.field == "headers.ce_traceparent"


def test_a_sealed_record_with_a_bad_field_names_it_like_one_in_clear(
    order_event: Envelope[Any],
) -> None:
    keys = KeyRing.generate()
    _, value, headers = encode_record(order_event, keys=keys)
    body = orjson.loads(value)
    del body["currency"]
    with pytest.raises(SchemaError) as caught:
        decode_record(orjson.dumps(body), headers, keys=keys)
    assert caught.value.field == "data.currency"
    assert decode_record(value, headers, keys=keys) == order_event
