"""Generic REST sink and signed-webhook source, through MockTransport and real signatures."""

import asyncio
import base64
import hashlib
import hmac
import json
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bizbus.connectors.base import Outcome, Sink, SinkCommand, Source
from bizbus.connectors.errors import RejectedError, SchemaError, TransientError
from bizbus.connectors.generic_rest import RestSettings, RestSink, idempotency_key
from bizbus.connectors.generic_webhook import SignedWebhookSource, WebhookSettings
from bizbus.connectors.webhooks import StandardWebhookVerifier

NOW = 1_777_000_000
SECRET = "whsec_" + base64.b64encode(b"generic-source-secret").decode()


class Store:
    """A tiny server honouring PUT upserts and Idempotency-Key replays."""

    def __init__(self) -> None:
        self.rows: dict[str, Any] = {}
        self.keys: set[str] = set()
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        key = request.headers["Idempotency-Key"]
        if key in self.keys:
            return httpx.Response(200, headers={"Idempotent-Replayed": "true"})
        self.keys.add(key)
        path = request.url.raw_path.decode()
        created = path not in self.rows
        self.rows[path] = json.loads(request.content)
        return httpx.Response(201 if created else 200, json={"id": path.rsplit("/", 1)[-1]})


def sink(store: Store, **kwargs: Any) -> RestSink:
    return RestSink("https://erp.example.test/api", transport=httpx.MockTransport(store), **kwargs)


async def test_rest_sink_creates_updates_and_ignores_replays() -> None:
    store = Store()
    order = SinkCommand(entity="orders", external_key="SO/2026/001", payload={"qty": 2})
    async with sink(store) as target:
        assert isinstance(target, Sink)
        first = await target.apply(order)
        replay = await target.apply(order)
        changed = await target.apply(
            SinkCommand(entity="orders", external_key="SO/2026/001", payload={"qty": 3})
        )
    assert first.outcome is Outcome.CREATED
    assert first.external_ids == {"id": "SO%2F2026%2F001"}
    assert replay.outcome is Outcome.UNCHANGED
    assert changed.outcome is Outcome.UPDATED
    assert store.requests[0].method == "PUT"
    assert store.requests[0].url.raw_path == b"/api/orders/SO%2F2026%2F001"


def test_idempotency_key_is_stable_and_content_sensitive() -> None:
    a = SinkCommand(entity="o", external_key="1", payload={"x": 1, "y": "张"})
    b = SinkCommand(entity="o", external_key="1", payload={"y": "张", "x": 1})
    c = SinkCommand(entity="o", external_key="1", payload={"x": 2, "y": "张"})
    assert idempotency_key(a) == idempotency_key(b) != idempotency_key(c)
    given = SinkCommand(entity="o", external_key="1", payload={}, idempotency_key="evt-9")
    assert idempotency_key(given) == "evt-9"


async def test_rest_sink_post_is_resent_on_503_because_it_is_keyed() -> None:
    answers = iter([httpx.Response(503), httpx.Response(201, json={"id": 7})])
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Idempotency-Key"])
        return next(answers)

    async def no_sleep(_: float) -> None:
        return None

    target = RestSink(
        "https://x.test", method="POST", transport=httpx.MockTransport(handler), sleep=no_sleep
    )
    async with target:
        result = await target.apply(SinkCommand(entity="e", external_key="k", payload={}))
    assert result.external_ids == {"id": "7"}
    assert len(seen) == 2 and seen[0] == seen[1]


async def test_rest_sink_from_settings_sends_the_token() -> None:
    store = Store()
    settings = RestSettings(base_url="https://x.test", token=SecretStr("tok"), path="/v1/{key}")
    async with RestSink.from_settings(settings, transport=httpx.MockTransport(store)) as target:
        await target.apply(SinkCommand(entity="e", external_key="k", payload={}))
    assert store.requests[0].headers["Authorization"] == "Bearer tok"
    assert store.requests[0].url.path == "/v1/k"


def delivery(payload: dict[str, Any], msg_id: str = "msg_1") -> tuple[dict[str, str], bytes]:
    body = json.dumps(payload).encode()
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{NOW}.".encode() + body, hashlib.sha256).digest()
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(NOW),
        "webhook-signature": "v1," + base64.b64encode(mac).decode(),
    }, body


def source(max_pending: int = 10) -> SignedWebhookSource:
    verifier = StandardWebhookVerifier([SecretStr(SECRET)], clock=lambda: NOW)
    return SignedWebhookSource(verifier, max_pending=max_pending)


async def test_webhook_source_verifies_dedupes_and_yields_records() -> None:
    src = source()
    assert isinstance(src, Source)
    payload = {"type": "order.updated", "timestamp": "2026-05-01T08:00:00+08:00"}
    payload["data"] = {"id": "SO-1", "客户": "上海某某有限公司"}  # type: ignore[assignment]
    assert src.receive(*delivery(payload)).status == 202
    assert src.receive(*delivery(payload)).status == 200  # redelivery: acknowledged, dropped
    feed = src.changes("order", None)
    record = await asyncio.wait_for(anext(feed), 1)
    assert (record.entity, record.id) == ("order", "SO-1")
    assert record.cursor.id == "msg_1"
    assert record.modified_at.utcoffset() is not None
    assert record.payload["data"]["客户"] == "上海某某有限公司"
    await feed.aclose()


async def test_webhook_source_rejects_forgeries() -> None:
    headers, body = delivery({"type": "order.updated", "data": {"id": "1"}})
    with pytest.raises(RejectedError):
        source().receive(headers, body.replace(b"1", b"2"))


async def test_webhook_without_id_is_a_schema_error_and_may_be_resent() -> None:
    src = source()
    headers, body = delivery({"type": "order.updated", "data": {}})
    with pytest.raises(SchemaError, match=r"data\.id"):
        src.receive(headers, body)
    with pytest.raises(SchemaError):
        src.receive(headers, body)  # not swallowed as a duplicate


async def test_full_backlog_answers_503_and_the_retry_is_accepted_later() -> None:
    src = source(max_pending=1)
    src.receive(*delivery({"type": "order.updated", "data": {"id": "1"}}, "m1"))
    second = delivery({"type": "order.updated", "data": {"id": "2"}}, "m2")
    with pytest.raises(TransientError) as caught:
        src.receive(*second)
    assert caught.value.status_code == 503
    feed = src.changes("order", None)
    await anext(feed)
    assert src.receive(*second).status == 202
    await feed.aclose()


def test_webhook_source_from_settings_accepts_both_rotation_secrets() -> None:
    settings = WebhookSettings(secret=SecretStr(SECRET), next_secret=SecretStr(SECRET))
    assert isinstance(SignedWebhookSource.from_settings(settings), SignedWebhookSource)
