"""The OA webhook answers 200 only once its records are acked; a failed publish answers 503."""

import asyncio
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
