"""Dead-letter holds live in a compacted topic: every worker sees them, a restart keeps them."""

import asyncio
import time
import uuid
from collections.abc import Callable

from bizbus.flows.runtime.holds import HoldStore
from bizbus.flows.runtime.topics_admin import TopicPlan, ensure_topics


async def _until(condition: Callable[[], bool], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_a_hold_is_seen_by_other_workers_survives_a_restart_and_ends_after_replays(
    kafka_bootstrap: str,
) -> None:
    topic = f"test.holds.{uuid.uuid4().hex[:8]}"
    plan = TopicPlan(topic, 1, {"cleanup.policy": "compact"})
    await ensure_topics(kafka_bootstrap, [plan], replication_factor=1)
    first, second = HoldStore(kafka_bootstrap, topic), HoldStore(kafka_bootstrap, topic)
    await first.start()
    await second.start()
    try:
        await first.add("erp-sales-orders", b"801A")
        await first.add("erp-sales-orders", b"801A")
        assert first.is_held("erp-sales-orders", b"801A")
        assert not first.is_held("crm-orders", b"801A")  # holds are per stage
        await _until(lambda: second.held() == {"erp-sales-orders|801A": 2})

        restarted = HoldStore(kafka_bootstrap, topic)
        await restarted.start()
        assert restarted.held() == {"erp-sales-orders|801A": 2}
        await restarted.stop()

        await second.replayed("erp-sales-orders", b"801A")
        assert second.is_held("erp-sales-orders", b"801A")
        await second.replayed("erp-sales-orders", b"801A")
        assert not second.is_held("erp-sales-orders", b"801A")
        await _until(lambda: not first.is_held("erp-sales-orders", b"801A"))

        await first.add("crm-orders", b"802B")
        await first.release("crm-orders", b"802B")
        assert first.held() == {}
        await _until(lambda: second.held() == {})
    finally:
        await first.stop()
        await second.stop()
