"""Through a real broker, the official CloudEvents SDK reads our records and we read its records."""

import asyncio
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary_event, to_binary_event
from cloudevents.core.v1.event import CloudEvent

from bizbus.schemas import (
    OrderPlacedV1,
    StockChangedV1,
    TravelApprovedV1,
    decode_record,
    encode_record,
    parse_event,
)

pytestmark = pytest.mark.kafka

FIXTURES = Path(__file__).parents[1] / "fixtures" / "events"
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def _fixture(event_type: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / f"{event_type}.json").read_text("utf-8"))
    return loaded


async def _produce(bootstrap: str, topic: str, records: list[tuple[Any, bytes, Any]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for key, value, headers in records:
            await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()


async def _consume(bootstrap: str, topic: str, count: int) -> list[Any]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
        group_id=f"{topic}.group", enable_auto_commit=False,
    )  # fmt: skip
    await consumer.start()
    try:
        records: list[Any] = []
        async with asyncio.timeout(20):
            while len(records) < count:
                batch = await consumer.getmany(timeout_ms=500)
                records.extend(r for rs in batch.values() for r in rs)
        return records
    finally:
        await consumer.stop()


async def test_sdk_reads_the_records_we_produce(kafka_bootstrap: str, new_topic: str) -> None:
    events = [
        parse_event({**_fixture(t), "traceparent": TRACEPARENT})
        for t in ("bizbus.sales.order.placed.v1", "bizbus.hr.travel.approved.v1")
    ]
    await _produce(kafka_bootstrap, new_topic, [encode_record(e) for e in events])
    records = await _consume(kafka_bootstrap, new_topic, len(events))

    for record, ours in zip(records, events, strict=True):
        message = KafkaMessage(headers=dict(record.headers), key=record.key, value=record.value)
        sdk_event = from_binary_event(message)
        assert sdk_event.get_id() == ours.id
        assert sdk_event.get_type() == ours.type
        assert sdk_event.get_source() == ours.source
        assert sdk_event.get_subject() == ours.subject
        assert sdk_event.get_time() == ours.time
        assert sdk_event.get_datacontenttype() == "application/json"
        assert sdk_event.get_dataschema() == ours.dataschema
        assert sdk_event.get_extension("correlationid") == ours.correlationid
        assert sdk_event.get_extension("origin") == ours.origin
        assert sdk_event.get_extension("partitionkey") == ours.subject  # the record key
        assert sdk_event.get_extension("traceparent") == TRACEPARENT  # distributed tracing
        assert sdk_event.get_data() == ours.data.model_dump(mode="json")
        assert decode_record(record.value, record.headers) == ours
    first_data = from_binary_event(
        KafkaMessage(headers=dict(records[0].headers), key=records[0].key, value=records[0].value)
    ).get_data()
    assert isinstance(first_data, dict)
    assert first_data["customer_name"] == "苏州瑞达电子有限公司"
    assert isinstance(decode_record(records[1].value, records[1].headers).data, TravelApprovedV1)


async def test_we_decode_the_records_the_sdk_produces(kafka_bootstrap: str, new_topic: str) -> None:
    sources = [_fixture(t) for t in ("bizbus.inventory.stock.changed.v1",
                                     "bizbus.sales.order.placed.v1")]  # fmt: skip
    records = []
    for fixture in sources:
        attributes = {k: v for k, v in fixture.items() if k != "data"}
        attributes["time"] = datetime.fromisoformat(attributes["time"])
        attributes["partitionkey"] = attributes["subject"]
        attributes["traceparent"] = TRACEPARENT
        message = to_binary_event(CloudEvent(attributes, fixture["data"]))
        key = message.key.encode() if isinstance(message.key, str) else message.key
        records.append((key, message.value, list(message.headers.items())))
    await _produce(kafka_bootstrap, new_topic, records)
    received = await _consume(kafka_bootstrap, new_topic, len(records))

    decoded = [decode_record(record.value, record.headers) for record in received]
    assert [event.id for event in decoded] == [fixture["id"] for fixture in sources]
    assert isinstance(decoded[0].data, StockChangedV1)
    assert decoded[0].data.warehouse_name == "深圳成品仓"
    assert decoded[0].entityversion == 31
    assert isinstance(decoded[1].data, OrderPlacedV1)
    assert decoded[1].data.lines[1].product_name == "八温区回流焊 RF-8Z"
    assert received[1].key == b"801J8000003aBcDIAU"
    assert decoded == [parse_event({**fixture, "traceparent": TRACEPARENT}) for fixture in sources]
    assert all(event.traceparent == TRACEPARENT for event in decoded)
