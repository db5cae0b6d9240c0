"""A poison event is dead-lettered with its reason while the next events flow.

`bizbus dlq list/show/replay` then finds it and, once the cause is fixed, replays it.
"""

import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from tests.integration.guard_worker import dlq, guard_worker, until_listed


async def test_a_poison_event_holds_only_its_key_until_its_dead_letters_are_replayed(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    async with guard_worker(kafka_bootstrap, tmp_path) as worker:
        source, app_id = worker.source, worker.app_id
        consumer = AIOKafkaConsumer(
            worker.out, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest"
        )
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")

        async def send(key: bytes, *values: bytes) -> None:
            for value in values:
                event_id = uuid.uuid4().hex.encode()  # `show` prints ids, never values
                await producer.send_and_wait(source, value, key=key, headers=[("ce_id", event_id)])

        try:  # the clients are stopped whatever fails, even starting them
            await consumer.start()
            await producer.start()
            await send(b"order-7", b"ok-1", b"poison", b"flaky-1", b"ok-2")
            await send(b"order-8", b"other-1")
            delivered = await worker.collect(consumer, 2)
            # order-7 stops at its poison event; order-8 flows on.
            assert sorted(delivered) == [b"ok-1", b"other-1"]

            listing = dlq("list", bootstrap=kafka_bootstrap)
            assert f"{source}.dlq\t3" in listing
            shown = dlq("show", f"{source}.dlq", bootstrap=kafka_bootstrap)
            assert "RejectedError: value rejected by the sink (offset 1)" in shown
            assert shown.count("HeldBehindDeadLetterError") == 2
            assert f"from {source}[0]@1" in shown
            assert "poison" not in shown  # values stay hidden unless --values is given

            await send(b"order-9", b"poison")
            await until_listed(kafka_bootstrap, "forward|order-9\t1", "holds", app_id=app_id)
            held = dlq("holds", bootstrap=kafka_bootstrap, app_id=app_id)
            assert "forward|order-7\t3" in held
            released = dlq("release", "forward", "order-9", bootstrap=kafka_bootstrap,
                           app_id=app_id)  # fmt: skip
            assert "Released 'order-9'" in released
            await send(b"order-9", b"ok-9")  # a released key flows again, its dead letter stays
            assert await worker.collect(consumer, 1) == [b"ok-9"]

            worker.blocklist.unlink()  # the cause is fixed
            replayed = dlq("replay", f"{source}.dlq", "--offset", "0", "--offset", "1",
                           "--offset", "2", bootstrap=kafka_bootstrap)  # fmt: skip
            assert "Replayed 3 dead letter(s)" in replayed
            # The held events come in their order, flaky-1 after its system's probe answered.
            assert await worker.collect(consumer, 3) == [b"poison", b"flaky-1", b"ok-2"]
            await send(b"order-7", b"ok-3")  # the hold ended with the last replayed one
            assert await worker.collect(consumer, 1) == [b"ok-3"]
        finally:
            await producer.stop()
            await consumer.stop()
