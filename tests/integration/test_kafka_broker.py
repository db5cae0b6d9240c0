"""The real broker answers a public client: produce/consume with headers, acks=all, idempotence."""

import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord


async def test_produce_consume_with_headers_acks_all_and_idempotence(
    kafka_bootstrap: str, new_topic: str
) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        assert (
            producer.client._idempotence_enabled
            if hasattr(producer.client, "_idempotence_enabled")
            else True
        )
        sent = [
            await producer.send_and_wait(
                new_topic,
                f"订单-{i}".encode(),
                key=b"order-1",
                headers=[("ce_id", str(i).encode())],
            )
            for i in range(3)
        ]
        # The broker granted a producer id: idempotent, de-duplicated retries are really on.
        assert producer._txn_manager is not None
        assert producer._txn_manager.producer_id >= 0
    finally:
        await producer.stop()
    assert [meta.offset for meta in sent] == [0, 1, 2]

    consumer = AIOKafkaConsumer(
        new_topic, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest",
        group_id=f"{new_topic}.group", enable_auto_commit=False,
    )  # fmt: skip
    await consumer.start()
    try:
        records: list[ConsumerRecord[bytes, bytes]] = []
        async with asyncio.timeout(20):
            while len(records) < 3:
                batch = await consumer.getmany(timeout_ms=500)
                records.extend(r for rs in batch.values() for r in rs)
    finally:
        await consumer.stop()
    assert [r.value.decode() for r in records] == ["订单-0", "订单-1", "订单-2"]
    assert all(r.key == b"order-1" for r in records)
    assert [dict(r.headers)["ce_id"] for r in records] == [b"0", b"1", b"2"]
