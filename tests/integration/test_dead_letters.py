"""A poison event is dead-lettered with its reason while the next events flow.

`bizbus dlq list/show/replay` then finds it and, once the cause is fixed, replays it.
"""

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bizbus.flows.runtime.topics_admin import TopicPlan, ensure_topics

ROOT = Path(__file__).resolve().parents[2]


async def _collect(
    consumer: AIOKafkaConsumer, count: int, proc: subprocess.Popen[bytes]
) -> list[bytes]:
    values: list[bytes] = []
    async with asyncio.timeout(60):
        while len(values) < count:
            assert proc.poll() is None, "worker died"
            batch = await consumer.getmany(timeout_ms=300)
            values.extend(r.value for rs in batch.values() for r in rs)
    return values


def _bizbus(*args: str, bootstrap: str, app_id: str = "bizbus") -> str:
    result = subprocess.run(
        [sys.executable, "-m", "bizbus.deploy", "dlq", *args, "--bootstrap", bootstrap],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
        env={**os.environ, "COLUMNS": "200", "BIZBUS_APP_ID": app_id},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


async def _until_held(bootstrap: str, app_id: str, line: str) -> None:
    deadline = time.monotonic() + 60
    while line not in _bizbus("holds", bootstrap=bootstrap, app_id=app_id):
        assert time.monotonic() < deadline, f"{line!r} never held"
        await asyncio.sleep(0.3)


async def test_a_poison_event_holds_only_its_key_until_its_dead_letters_are_replayed(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    suffix = uuid.uuid4().hex[:8]
    source, out = f"test.guard-in.{suffix}", f"test.guard-out.{suffix}"
    app_id = f"test-guard-{suffix}"
    holds = f"{app_id}-dead-letter-holds"  # where `bizbus dlq holds` looks for this app
    blocklist = tmp_path / "blocklist"
    blocklist.write_text("poison")
    env = {
        **os.environ, "GUARD_APP_ID": app_id, "GUARD_BOOTSTRAP": kafka_bootstrap,
        "GUARD_DATADIR": str(tmp_path / "faust"), "GUARD_IN": source, "GUARD_OUT": out,
        "GUARD_BLOCKLIST": str(blocklist), "GUARD_HOLDS": holds,
    }  # fmt: skip
    plans = [
        TopicPlan(source, 1), TopicPlan(out, 1), TopicPlan(source + ".dlq", 1),
        TopicPlan(holds, 1, {"cleanup.policy": "compact"}),
    ]  # fmt: skip
    await ensure_topics(kafka_bootstrap, plans, replication_factor=1)
    log = tmp_path / "worker.log"
    with log.open("wb") as sink:
        worker = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.faust_guard_app", "worker", "-l", "warn",
             "--without-web"],
            cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    consumer = AIOKafkaConsumer(
        out, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest"
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")

    async def send(key: bytes, *values: bytes) -> None:
        for value in values:
            await producer.send_and_wait(source, value, key=key, headers=[("ce_id", value)])

    try:  # the worker is stopped whatever fails, even starting the clients
        await consumer.start()
        await producer.start()
        await send(b"order-7", b"ok-1", b"poison", b"flaky-1", b"ok-2")
        await send(b"order-8", b"other-1")
        try:
            delivered = await _collect(consumer, 2, worker)
        except (TimeoutError, AssertionError):
            raise AssertionError(log.read_text()[-3000:]) from None
        # order-7 stops at its poison event; order-8 flows on.
        assert sorted(delivered) == [b"ok-1", b"other-1"]

        listing = _bizbus("list", bootstrap=kafka_bootstrap)
        assert f"{source}.dlq\t3" in listing
        shown = _bizbus("show", f"{source}.dlq", bootstrap=kafka_bootstrap)
        assert "RejectedError: value rejected by the sink (offset 1)" in shown
        assert shown.count("HeldBehindDeadLetterError") == 2
        assert f"from {source}[0]@1" in shown
        assert "poison" not in shown  # values stay hidden unless --values is given

        await send(b"order-9", b"poison")
        await _until_held(kafka_bootstrap, app_id, "forward|order-9\t1")
        held = _bizbus("holds", bootstrap=kafka_bootstrap, app_id=app_id)
        assert "forward|order-7\t3" in held
        released = _bizbus(
            "release", "forward", "order-9", bootstrap=kafka_bootstrap, app_id=app_id
        )
        assert "Released 'order-9'" in released
        await send(b"order-9", b"ok-9")  # a released key flows again, its dead letter stays
        assert await _collect(consumer, 1, worker) == [b"ok-9"]

        blocklist.unlink()  # the cause is fixed
        replayed = _bizbus("replay", f"{source}.dlq", "--offset", "0", "--offset", "1",
                           "--offset", "2", bootstrap=kafka_bootstrap)  # fmt: skip
        assert "Replayed 3 dead letter(s)" in replayed
        # The held events come in their order, flaky-1 after its system's probe answered.
        assert await _collect(consumer, 3, worker) == [b"poison", b"flaky-1", b"ok-2"]
        await send(b"order-7", b"ok-3")  # the hold ended with the last replayed one
        assert await _collect(consumer, 1, worker) == [b"ok-3"]
    finally:
        await producer.stop()
        await consumer.stop()
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    assert worker.returncode == 0, log.read_text()[-3000:]
