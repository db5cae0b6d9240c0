"""Personal data: tagged in the contracts, sealed field by field on Kafka, masked for people."""

import copy
import json
import os
from pathlib import Path
from typing import Any

import orjson
import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary_event

from bizbus.schemas import (
    EVENT_TYPES,
    PERSONAL_DATA,
    KeyRing,
    SchemaError,
    decode_record,
    encode_record,
    masked_record,
    parse_event,
    personal_paths,
)
from bizbus.schemas.compat import breaking_changes
from bizbus.schemas.export import asyncapi_document, payload_json_schema
from bizbus.schemas.personal import KEY_ID_HEADER, MASK, SEALED_PREFIX

FIXTURES = Path(__file__).parents[1] / "fixtures" / "events"
PHONE, EMAIL = "+86 138 0013 8000", "li.na@huaxin-sme.cn"


def fixture(event_type: str) -> Any:
    return parse_event(json.loads((FIXTURES / f"{event_type}.json").read_text("utf-8")))


def every_fixture() -> list[Any]:
    return [fixture(event_type) for event_type in sorted(EVENT_TYPES)]


def test_people_are_tagged_and_companies_and_keys_are_not() -> None:
    assert personal_paths("bizbus.sales.order.placed.v1") == (
        ("owner", "name"), ("owner", "email"),
    )  # fmt: skip
    assert ("phone",) in personal_paths("bizbus.sales.account.upserted.v1")
    assert set(personal_paths("bizbus.hr.travel.approved.v1")) == {
        ("applicant", "name"), ("applicant", "email"),
        ("approvers", "*", "name"), ("approvers", "*", "email"),
    }  # fmt: skip
    assert personal_paths("bizbus.integration.source-record.captured.v1") == (("record",),)
    assert personal_paths("bizbus.inventory.stock.changed.v1") == ()
    schema = payload_json_schema("bizbus.sales.order.placed.v1")
    owner = schema["$defs"]["SalesRep"]["properties"]
    assert owner["email"][PERSONAL_DATA] is True and PERSONAL_DATA not in owner["user_id"]
    assert PERSONAL_DATA not in schema["properties"]["customer_name"]  # a company


@pytest.mark.parametrize("event", every_fixture(), ids=lambda e: e.type)
def test_every_event_round_trips_sealed_and_no_personal_value_stays_in_clear(event: Any) -> None:
    keys = KeyRing.generate()
    clear = orjson.loads(encode_record(event)[1])
    _, value, headers = encode_record(event, keys=keys)
    assert decode_record(value, headers, keys=keys) == event
    sealed = orjson.loads(value)
    for path in personal_paths(event.type):
        for found in values_at(clear, path):
            assert orjson.dumps(found)[1:-1] not in value  # not even as a substring
        assert all(str(v).startswith(SEALED_PREFIX) for v in values_at(sealed, path))
    named = dict(headers)
    assert (KEY_ID_HEADER in named) == bool(personal_paths(event.type))


def values_at(data: Any, path: tuple[str, ...]) -> list[Any]:
    if not path:
        return [] if data is None else [data]
    head, rest = path[0], path[1:]
    if head == "*":
        return [v for item in data or [] for v in values_at(item, rest)]
    return values_at(data.get(head), rest) if isinstance(data, dict) else []


def test_rotation_reads_records_of_the_old_key_and_seals_with_the_new() -> None:
    event = fixture("bizbus.sales.order.placed.v1")
    secret = os.urandom(32)
    _, value, headers = encode_record(event, keys=KeyRing({"2025-01": secret}, "2025-01"))
    rotated = KeyRing({"2025-01": secret, "2025-07": os.urandom(32)}, "2025-07")
    assert decode_record(value, headers, keys=rotated) == event
    assert dict(encode_record(event, keys=rotated)[2])[KEY_ID_HEADER] == b"2025-07"


def test_a_sealed_record_needs_the_key_that_sealed_it() -> None:
    event = fixture("bizbus.sales.order.placed.v1")
    _, value, headers = encode_record(event, keys=KeyRing.generate("a"))
    with pytest.raises(SchemaError, match="no key ring"):
        decode_record(value, headers)
    with pytest.raises(SchemaError, match="unknown key 'a'"):
        decode_record(value, headers, keys=KeyRing.generate("b"))
    with pytest.raises(SchemaError, match="does not open") as error:
        decode_record(value, headers, keys=KeyRing.generate("a"))  # same id, another key
    assert EMAIL not in str(error.value) and "李娜" not in str(error.value)


def test_a_sealed_value_moved_to_another_record_or_field_does_not_open() -> None:
    keys = KeyRing.generate()
    first = fixture("bizbus.sales.order.placed.v1")
    second = first.model_copy(update={"id": "another-event-id"})
    _, value, headers = encode_record(first, keys=keys)
    _, other_value, other_headers = encode_record(second, keys=keys)
    swapped = orjson.loads(other_value)
    swapped["owner"]["email"] = orjson.loads(value)["owner"]["email"]
    with pytest.raises(SchemaError, match="does not open"):
        decode_record(orjson.dumps(swapped), other_headers, keys=keys)
    crossed = orjson.loads(value)
    crossed["owner"]["name"] = crossed["owner"]["email"]
    with pytest.raises(SchemaError, match="does not open"):
        decode_record(orjson.dumps(crossed), headers, keys=keys)


def test_records_written_in_clear_before_still_decode_with_a_ring() -> None:
    event = fixture("bizbus.sales.order.placed.v1")
    _, value, headers = encode_record(event)
    assert decode_record(value, headers, keys=KeyRing.generate()) == event


def test_the_sdk_reads_a_sealed_record_and_sees_the_key_id_extension() -> None:
    event = fixture("bizbus.sales.order.placed.v1")
    key, value, headers = encode_record(event, keys=KeyRing.generate("k7"))
    sdk_event = from_binary_event(KafkaMessage(headers=dict(headers), key=key, value=value))
    assert sdk_event.get_extension("piikeyid") == "k7"
    data = sdk_event.get_data()
    assert isinstance(data, dict) and data["owner"]["email"].startswith(SEALED_PREFIX)


def test_masked_records_show_no_personal_value_sealed_or_clear() -> None:
    event = fixture("bizbus.sales.account.upserted.v1")
    for keys in (None, KeyRing.generate()):
        _, value, headers = encode_record(event, keys=keys)
        shown = masked_record(value, headers)
        assert shown["phone"] == MASK and shown["owner"]["email"] == MASK
        assert shown["account_id"] == event.data.account_id
    raw = fixture("bizbus.integration.source-record.captured.v1")
    assert masked_record(*encode_record(raw)[1:])["record"] == MASK
    assert masked_record(b'{"phone": "1"}', [("ce_type", b"bizbus.unknown.x.y.v1")]) is None


def test_the_compat_gate_accepts_the_tag_and_still_catches_a_retype_beside_it() -> None:
    event_type = "bizbus.sales.account.upserted.v1"
    new = payload_json_schema(event_type)
    old = strip_tags(copy.deepcopy(new))
    assert breaking_changes(old, new) == []
    assert breaking_changes(new, old) == []  # dropping a tag is no compat matter either
    new["properties"]["phone"] = {"type": "integer", PERSONAL_DATA: True}
    assert breaking_changes(old, new) == [
        "data.phone: retyped (a type it accepted is no longer accepted)"
    ]


def strip_tags(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: strip_tags(v) for k, v in schema.items() if k != PERSONAL_DATA}
    if isinstance(schema, list):
        return [strip_tags(v) for v in schema]
    return schema


def test_asyncapi_declares_the_key_id_header_where_personal_fields_travel() -> None:
    messages = asyncapi_document()["components"]["messages"]
    assert KEY_ID_HEADER in messages["OrderPlacedV1"]["headers"]["properties"]
    assert KEY_ID_HEADER not in messages["StockChangedV1"]["headers"]["properties"]
