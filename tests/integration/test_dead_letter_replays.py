"""Dead letters picked by error class, time and deal; replays recorded; repeat failures quarantined.

An event that failed BIZBUS_DLQ_MAX_REPLAYS replays goes to quarantine with its history.
"""

from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from tests.integration.guard_worker import dlq, guard_worker, until_listed


async def test_replays_are_filtered_recorded_and_repeat_failures_quarantined(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    async with guard_worker(kafka_bootstrap, tmp_path, blocked="poison broken") as worker:
        dead, app = worker.dlq, worker.app_id
        consumer = AIOKafkaConsumer(
            worker.out, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest"
        )
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")

        async def send(key: bytes, value: bytes, event_id: str, deal: str) -> None:
            headers = [("ce_id", event_id.encode()), ("ce_correlationid", deal.encode())]
            await producer.send_and_wait(worker.source, value, key=key, headers=headers)

        def cli(*args: str) -> str:
            return dlq(*args, bootstrap=kafka_bootstrap, app_id=app,
                       BIZBUS_DLQ_MAX_REPLAYS="1")  # fmt: skip

        try:
            await consumer.start()
            await producer.start()
            await send(b"k1", b"poison", "ev-1", "deal-1")  # RejectedError, holds k1
            await send(b"k2", b"broken", "ev-2", "deal-2")  # RejectedError, holds k2
            await send(b"k1", b"after", "ev-3", "deal-1")  # HeldBehindDeadLetterError
            await send(b"k3", b"fine", "ev-4", "deal-3")
            assert await worker.collect(consumer, 1) == [b"fine"]
            await until_listed(kafka_bootstrap, f"{dead}\t3", "list", app_id=app)

            rejected = cli("show", dead, "--error-class", "RejectedError")
            assert "2 dead letter(s)" in rejected and "ev-3" not in rejected
            assert "event ev-1 correlation deal-1; never replayed" in rejected
            assert "ev-2" in cli("show", "--correlation-id", "deal-2")  # every .dlq topic
            assert f"{dead}\t2" in cli("list", "--correlation-id", "deal-1")
            assert "3 dead letter(s)" in cli("show", dead, "--since", "1h")
            assert "0 dead letter(s)" in cli("show", dead, "--until", "1h")
            later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
            assert "0 dead letter(s)" in cli("show", dead, "--since", later)

            # ev-2 is still broken: its replay fails, and its next dead letter is quarantined.
            first = cli("replay", dead, "--correlation-id", "deal-2")
            assert "Replayed 1 dead letter(s)" in first and "quarantined 0" in first
            await until_listed(kafka_bootstrap, f"{dead}\t4", "list", app_id=app)
            second = cli("replay", dead, "--correlation-id", "deal-2")
            assert "Replayed 0 dead letter(s)" in second
            assert "quarantined 1; skipped 1" in second  # offset 1 was re-sent already
            third = cli("replay", dead, "--correlation-id", "deal-2")
            assert "Replayed 0 dead letter(s)" in third and "quarantined 0; skipped 2" in third
            story = cli("show", dead, "--correlation-id", "deal-2")
            assert "replayed 1x, this one re-sent, quarantined" in story
            quarantined = cli("quarantined")
            assert "1 quarantined event(s)" in quarantined and "ev-2" in quarantined
            assert f"from {dead}/0/1" in quarantined  # its history came with it
            assert "RejectedError" in quarantined

            # ev-1's cause is fixed: replaying deal-1 lets k1's events through, in order.
            worker.blocklist.write_text("broken")
            replayed = cli("replay", dead, "--correlation-id", "deal-1")
            assert "Replayed 2 dead letter(s)" in replayed
            assert await worker.collect(consumer, 2) == [b"poison", b"after"]
            again = cli("replay", dead, "--correlation-id", "deal-1")
            assert "Replayed 0 dead letter(s)" in again and "skipped 2" in again
        finally:
            await producer.stop()
            await consumer.stop()
