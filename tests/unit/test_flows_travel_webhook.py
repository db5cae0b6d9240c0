"""The OA webhook answers 200 only once its records are acked; a failed publish answers 503."""

import asyncio
from collections.abc import Iterable
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import SecretStr

from bizbus.connectors.base import SourceRecord
from bizbus.connectors.errors import ConfigError
from bizbus.connectors.feishu import FeishuWebhookReceiver
from bizbus.connectors.webhooks import FeishuEventVerifier
from bizbus.flows.runtime.spec import Emit, WebRequest
from bizbus.flows.travel import webhooks
from bizbus.flows.travel.webhooks import answer_callback
from tests.unit.test_connector_feishu_receiver import CODE, KEY, TOKEN, instance_event, seal


@pytest.fixture
def receiver() -> FeishuWebhookReceiver:
    verifier = FeishuEventVerifier([SecretStr(KEY)], verification_tokens=[SecretStr(TOKEN)])
    return FeishuWebhookReceiver(verifier, approval_codes=[CODE])


async def test_the_answer_waits_for_the_ack_of_each_record(
    receiver: FeishuWebhookReceiver,
) -> None:
    acked: list[SourceRecord] = []

    async def publish(record: SourceRecord) -> None:
        await asyncio.sleep(0)
        acked.append(record)

    body, headers = seal(instance_event("APPROVED"))
    assert await answer_callback(receiver, publish, body, headers) == (200, b"{}")
    assert [(r.entity, r.payload["status"]) for r in acked] == [("approval_instance", "APPROVED")]


async def test_a_failed_publish_answers_503_and_the_redelivery_goes_through(
    receiver: FeishuWebhookReceiver,
) -> None:
    event = instance_event("APPROVED")
    acked: list[SourceRecord] = []

    async def broker_down(record: SourceRecord) -> None:
        raise ConnectionError("broker unreachable")

    async def publish(record: SourceRecord) -> None:
        acked.append(record)

    body, headers = seal(event)
    assert (await answer_callback(receiver, broker_down, body, headers))[0] == 503
    body, headers = seal(event)  # Feishu redelivers the same event id, sealed afresh
    assert (await answer_callback(receiver, publish, body, headers))[0] == 200
    assert len(acked) == 1
    body, headers = seal(event)  # once published, a further redelivery is a duplicate
    assert (await answer_callback(receiver, publish, body, headers))[0] == 200
    assert len(acked) == 1


async def test_a_publish_slower_than_feishus_deadline_answers_503(
    receiver: FeishuWebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhooks, "PUBLISH_DEADLINE_S", 0.01)

    async def stuck(record: SourceRecord) -> None:
        await asyncio.sleep(1)

    body, headers = seal(instance_event("APPROVED"))
    assert (await answer_callback(receiver, stuck, body, headers))[0] == 503


async def test_a_forged_callback_is_refused_without_publishing(
    receiver: FeishuWebhookReceiver,
) -> None:
    async def publish(record: SourceRecord) -> None:
        raise AssertionError("a forged callback must not be published")

    body, headers = seal(instance_event("APPROVED"), key="someone-else")
    status, _ = await answer_callback(receiver, publish, body, headers)
    assert status in (400, 401)


class _Oa:
    def __init__(self, receiver: FeishuWebhookReceiver) -> None:
        self.receiver = receiver
        self.settings = SimpleNamespace(replay_ttl_s=600.0)


class _Connections:
    def __init__(self, receiver: FeishuWebhookReceiver | None) -> None:
        self.receiver = receiver

    async def oa(self) -> Any:
        if self.receiver is None:
            raise ConfigError("BIZBUS_OA_APP_ID: field required")
        return _Oa(self.receiver)


async def test_the_page_publishes_each_record_as_a_raw_oa_event_before_answering(
    receiver: FeishuWebhookReceiver,
) -> None:
    published: list[Emit] = []

    async def publish(emit: Emit) -> None:
        published.append(emit)

    body, headers = seal(instance_event("APPROVED"))
    request = WebRequest("POST", body, headers)
    reply = await webhooks.feishu_callback(_Connections(receiver), request, publish)  # type: ignore[arg-type]
    assert (reply.status, reply.body) == (200, b"{}")
    [emit] = published
    assert emit.topic == "src.oa.approval-instance" and emit.event.origin == "oa"


async def test_a_worker_without_oa_settings_answers_503_so_feishu_retries_later() -> None:
    async def publish(emit: Emit) -> None:
        raise AssertionError("nothing to publish")

    request = WebRequest("POST", b"{}", {})
    reply = await webhooks.feishu_callback(_Connections(None), request, publish)  # type: ignore[arg-type]
    assert reply.status == 503


class SharedSeen:
    """What the worker group's SeenKeys does, in memory: recorded keys and this worker's claims."""

    def __init__(self, recorded: set[str] | None = None, *, fail_record: bool = False) -> None:
        self.recorded = recorded if recorded is not None else set()
        self.claims: set[str] = set()
        self.fail_record = fail_record
        self.refreshed = 0

    def check_and_add(self, key: str) -> bool:
        if key in self.recorded or key in self.claims:
            return False
        self.claims.add(key)
        return True

    def discard(self, key: str) -> None:
        self.claims.discard(key)

    async def refresh(self) -> None:
        self.refreshed += 1

    async def record(self, keys: Iterable[str], *, ttl_s: float) -> None:
        if self.fail_record:
            raise ConnectionError("broker unreachable")
        self.recorded.update(keys)
        self.claims.difference_update(keys)


def systems(receiver: FeishuWebhookReceiver) -> Any:
    return _Connections(receiver)


def fresh_receiver() -> FeishuWebhookReceiver:
    verifier = FeishuEventVerifier([SecretStr(KEY)], verification_tokens=[SecretStr(TOKEN)])
    return FeishuWebhookReceiver(verifier, approval_codes=[CODE])


async def test_a_replay_to_a_restarted_or_other_worker_publishes_nothing() -> None:
    recorded: set[str] = set()  # what the compacted topic holds
    published: list[Emit] = []

    async def publish(emit: Emit) -> None:
        published.append(emit)

    body, headers = seal(instance_event("APPROVED", event_id="evt-replayed"))
    request = WebRequest("POST", body, headers)
    first = SharedSeen(recorded)
    reply = await webhooks.feishu_callback(systems(fresh_receiver()), request, publish, seen=first)
    assert reply.status == 200 and len(published) == 1 and first.refreshed == 1
    assert any(key.startswith("nonce:") for key in recorded) and "id:evt-replayed" in recorded

    for _ in range(2):  # a restarted worker, another worker: a new connector, the shared keys
        other = SharedSeen(recorded)
        receiver = fresh_receiver()
        reply = await webhooks.feishu_callback(systems(receiver), request, publish, seen=other)
        assert reply.status == 200 and len(published) == 1


async def test_a_record_that_cannot_be_remembered_answers_503_and_keeps_its_event_id() -> None:
    published: list[Emit] = []

    async def publish(emit: Emit) -> None:
        published.append(emit)

    event = instance_event("APPROVED", event_id="evt-twice")
    failing, working = SharedSeen(fail_record=True), SharedSeen()
    receiver = fresh_receiver()
    body, headers = seal(event)
    reply = await webhooks.feishu_callback(
        systems(receiver), WebRequest("POST", body, headers), publish, seen=failing
    )
    assert reply.status == 503 and failing.claims == set()  # released: Feishu redelivers
    body, headers = seal(event)  # the redelivery, signed afresh
    reply = await webhooks.feishu_callback(
        systems(receiver), WebRequest("POST", body, headers), publish, seen=working
    )
    assert reply.status == 200
    first, second = published  # published twice, one event to its consumers
    assert first.event.id == second.event.id


class CountingSeen:
    """A shared replay store that counts its reads (the Kafka round trips of a worker)."""

    def __init__(self) -> None:
        self.refreshes = 0
        self.keys: set[str] = set()

    async def refresh(self) -> None:
        self.refreshes += 1

    async def record(self, keys: Iterable[str], *, ttl_s: float) -> None:
        self.keys.update(keys)

    def check_and_add(self, key: str) -> bool:
        return key not in self.keys

    def discard(self, key: str) -> None:
        self.keys.discard(key)


async def test_a_forged_or_stale_callback_is_refused_without_reading_the_replay_store(
    receiver: FeishuWebhookReceiver,
) -> None:
    seen = CountingSeen()
    published: list[SourceRecord] = []

    async def publish(record: SourceRecord) -> None:
        published.append(record)

    body, headers = seal(instance_event("APPROVED"))
    forged = {**headers, "X-Lark-Signature": "0" * 64}
    stale = {**headers, "X-Lark-Request-Timestamp": "1000000000"}
    for bad in (forged, stale):
        status, _ = await answer_callback(receiver, publish, body, bad, seen=seen)
        assert status == 401
    assert seen.refreshes == 0 and published == []
    assert (await answer_callback(receiver, publish, body, headers, seen=seen))[0] == 200
    assert seen.refreshes == 1 and len(published) == 1
