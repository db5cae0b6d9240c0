"""Webhook dedupe keys live in a compacted topic: other workers and restarts refuse a replay."""

import uuid

from bizbus.flows.runtime.seen import SeenKeys
from bizbus.flows.runtime.topics_admin import TopicPlan, ensure_topics


async def test_a_recorded_key_is_refused_by_another_worker_and_after_a_restart(
    kafka_bootstrap: str,
) -> None:
    topic = f"test.seen.{uuid.uuid4().hex[:8]}"
    plan = TopicPlan(topic, 1, {"cleanup.policy": "compact,delete"})
    await ensure_topics(kafka_bootstrap, [plan], replication_factor=1)
    now = [1_000_000.0]
    first = SeenKeys(kafka_bootstrap, topic, clock=lambda: now[0])
    second = SeenKeys(kafka_bootstrap, topic, clock=lambda: now[0])
    await first.start()
    await second.start()
    try:
        assert first.check_and_add("id:evt-1")
        assert not first.check_and_add("id:evt-1")  # claimed while its record is published
        assert second.check_and_add("id:evt-1")  # not recorded yet: a claim is this worker's
        second.discard("id:evt-1")
        await first.record(["id:evt-1"], ttl_s=3600)

        await second.refresh()  # what the webhook does before it looks
        assert not second.check_and_add("id:evt-1")
        restarted = SeenKeys(kafka_bootstrap, topic, clock=lambda: now[0])
        await restarted.start()
        try:
            assert not restarted.check_and_add("id:evt-1")
            now[0] += 3601  # remembered for the TTL asked for, then let through again
            assert restarted.check_and_add("id:evt-1")
        finally:
            await restarted.stop()

        assert first.check_and_add("id:evt-2")
        first.discard("id:evt-2")  # publishing failed: the sender's retry goes through
        assert first.check_and_add("id:evt-2")
    finally:
        await first.stop()
        await second.stop()
