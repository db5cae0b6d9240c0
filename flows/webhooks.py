"""OA (Feishu) event callbacks on the worker's web server: verified, published, then answered.

`POST /webhooks/feishu` hands the raw body and headers to the connector's receiver (challenge
answered at once; signature, window, decryption and dedupe on the raw bytes). Each new record is
published as a raw `src.oa.approval-instance` event and acked by the broker BEFORE we answer
200; when that fails the receiver forgets the dedupe keys and we answer 503, so Feishu redelivers.
Web views run outside agents: nothing here writes a table.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

import faust
from faust.web import Request, Response

from bizbus.connectors.base import SourceRecord
from bizbus.connectors.errors import IntegrationError
from bizbus.connectors.feishu import WebhookReply
from bizbus.flows.context import FlowContext
from bizbus.flows.runtime.deadletter import safe_reason
from bizbus.flows.runtime.polling import raw_event

__all__ = [
    "FEISHU_WEBHOOK_PATH",
    "OA_INSTANCE_TOPIC",
    "answer_callback",
    "register_feishu_webhook",
]

log = logging.getLogger("bizbus.webhooks")

FEISHU_WEBHOOK_PATH = "/webhooks/feishu"
OA_INSTANCE_TOPIC = "src.oa.approval-instance"
# Feishu waits 3 s for an answer; a slower broker ack is answered 503 (Feishu then redelivers).
PUBLISH_DEADLINE_S = 2.5
_JSON = "application/json"


class Receiver(Protocol):
    """The part of ``FeishuWebhookReceiver`` the endpoint uses."""

    async def handle(self, raw_body: bytes, headers: Mapping[str, str]) -> WebhookReply:
        """Verify and decode one callback."""
        ...

    def release(self, reply: WebhookReply) -> None:
        """Forget the dedupe keys of a reply whose records were not published."""
        ...


Publish = Callable[[SourceRecord], Awaitable[None]]


async def answer_callback(
    receiver: Receiver, publish: Publish, raw: bytes, headers: Mapping[str, str]
) -> tuple[int, bytes]:
    """Return the (status, body) to answer one callback, once its records are acked.

    A record that cannot be published within ``PUBLISH_DEADLINE_S`` releases the reply's dedupe
    keys and answers 503, so Feishu's redelivery is handled instead of dropped as a duplicate.
    """
    reply = await receiver.handle(raw, headers)
    try:
        for record in reply.records:
            await asyncio.wait_for(publish(record), PUBLISH_DEADLINE_S)
    except Exception as error:  # noqa: BLE001 - any failure: Feishu must redeliver
        receiver.release(reply)
        log.error(
            "OA event not published (%s), answering 503 so Feishu redelivers", safe_reason(error)
        )
        return 503, b'{"msg":"retry later"}'
    return reply.status, reply.body


def register_feishu_webhook(
    ctx: FlowContext, *, path: str = FEISHU_WEBHOOK_PATH, topic: str = OA_INSTANCE_TOPIC
) -> None:
    """Serve Feishu's event callbacks at `path`, publishing their records to `topic`."""

    async def publish(record: SourceRecord) -> None:
        await ctx.publish(raw_event("oa", record), topic=topic)

    class FeishuWebhook(faust.web.View):
        """Feishu/Lark event subscription request URL."""

        async def post(self, request: Request, **_: Any) -> Response:
            raw = await self.read_request_content(request)
            try:
                oa = await ctx.connections.oa()
            except IntegrationError as error:  # bad settings: loud, and Feishu retries later
                log.error("OA webhook cannot verify events: %s", safe_reason(error))
                return self.bytes(b'{"msg":"not configured"}', status=503, content_type=_JSON)
            status, body = await answer_callback(oa.receiver, publish, raw, dict(request.headers))
            return self.bytes(body, status=status, content_type=_JSON)

    ctx.app.page(path, name="feishu-webhook")(FeishuWebhook)
