"""OA (Feishu) event callbacks on the worker's web server: verified, published, then answered.

`POST /webhooks/feishu` hands the raw body and headers to the connector's receiver (challenge
answered at once; signature, window, decryption and dedupe on the raw bytes). Each new record is
published as a raw `src.oa.approval-instance` event and acked by the broker BEFORE we answer
200; when that fails the receiver forgets the dedupe keys and we answer 503, so Feishu redelivers.
Web views run outside agents: nothing here writes a table.
"""

import asyncio
import logging
from typing import Any

import faust
from faust.web import Request, Response

from connectors.errors import IntegrationError
from flows.context import FlowContext
from flows.runtime.deadletter import safe_reason
from flows.runtime.polling import raw_event

__all__ = ["FEISHU_WEBHOOK_PATH", "OA_INSTANCE_TOPIC", "register_feishu_webhook"]

log = logging.getLogger("bizbus.webhooks")

FEISHU_WEBHOOK_PATH = "/webhooks/feishu"
OA_INSTANCE_TOPIC = "src.oa.approval-instance"
# Feishu waits 3 s for an answer; a slower broker ack is answered 503 (Feishu then redelivers).
PUBLISH_DEADLINE_S = 2.5
_JSON = "application/json"


def register_feishu_webhook(
    ctx: FlowContext, *, path: str = FEISHU_WEBHOOK_PATH, topic: str = OA_INSTANCE_TOPIC
) -> None:
    """Serve Feishu's event callbacks at `path`, publishing their records to `topic`."""

    class FeishuWebhook(faust.web.View):
        """Feishu/Lark event subscription request URL."""

        async def post(self, request: Request, **_: Any) -> Response:
            raw = await self.read_request_content(request)
            try:
                oa = await ctx.connections.oa()
            except IntegrationError as error:  # bad settings: loud, and Feishu retries later
                log.error("OA webhook cannot verify events: %s", safe_reason(error))
                return self.bytes(b'{"msg":"not configured"}', status=503, content_type=_JSON)
            reply = await oa.receiver.handle(raw, dict(request.headers))
            try:
                for record in reply.records:
                    await asyncio.wait_for(
                        ctx.publish(raw_event("oa", record), topic=topic), PUBLISH_DEADLINE_S
                    )
            except Exception as error:  # noqa: BLE001 - any failure: Feishu must redeliver
                oa.receiver.release(reply)
                log.error(
                    "OA event not published (%s), answering 503 so Feishu redelivers",
                    safe_reason(error),
                )
                return self.bytes(b'{"msg":"retry later"}', status=503, content_type=_JSON)
            return self.bytes(reply.body, status=reply.status, content_type=_JSON)

    ctx.app.page(path, name="feishu-webhook")(FeishuWebhook)
