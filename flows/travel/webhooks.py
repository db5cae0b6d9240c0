"""OA (Feishu) event callbacks on the worker's web server: verified, published, then answered.

`POST /webhooks/feishu` hands the raw body and headers to the connector's receiver (challenge
answered at once; signature, window, decryption and dedupe on the raw bytes). Each new record is
published as a raw `src.oa.approval-instance` event and acked by the broker BEFORE we answer
200; when that fails the receiver forgets the dedupe keys and we answer 503, so Feishu redelivers.
Pages run outside stages: nothing here writes a table.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

from bizbus.connectors.base import SourceRecord
from bizbus.connectors.errors import IntegrationError
from bizbus.connectors.feishu import WebhookReply
from bizbus.flows.context import Systems
from bizbus.flows.runtime import spec
from bizbus.flows.runtime.deadletter import safe_reason
from bizbus.flows.runtime.polling import raw_event
from bizbus.flows.runtime.spec import Emit, WebRequest, WebResponse

__all__ = [
    "FEISHU_WEBHOOK_PATH",
    "OA_INSTANCE_TOPIC",
    "answer_callback",
    "feishu_callback",
]

log = logging.getLogger("bizbus.webhooks")

FEISHU_WEBHOOK_PATH = "/webhooks/feishu"
OA_INSTANCE_TOPIC = "src.oa.approval-instance"
# Feishu waits 3 s for an answer; a slower broker ack is answered 503 (Feishu then redelivers).
PUBLISH_DEADLINE_S = 2.5


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


async def feishu_callback(
    connections: Systems,
    request: WebRequest,
    publish: spec.Publish,
    *,
    topic: str = OA_INSTANCE_TOPIC,
) -> WebResponse:
    """Answer one Feishu callback, once its records are published to `topic` and acked."""
    try:
        oa = await connections.oa()
    except IntegrationError as error:  # bad settings: loud, and Feishu retries later
        log.error("OA webhook cannot verify events: %s", safe_reason(error))
        return WebResponse(503, b'{"msg":"not configured"}')

    async def publish_record(record: SourceRecord) -> None:
        await publish(Emit(raw_event("oa", record), topic=topic))

    status, body = await answer_callback(oa.receiver, publish_record, request.body, request.headers)
    return WebResponse(status, body)
