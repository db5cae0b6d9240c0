"""DingTalk Stream mode: approval events over the gateway's WebSocket, as push batches.

``POST /v1.0/gateway/connections/open`` (app key and secret, subscription ``EVENT *``) answers
an endpoint and a one-use ticket; the WebSocket then carries ``SYSTEM`` frames (``ping`` is
answered, ``disconnect`` ends the connection: the caller reconnects) and ``EVENT`` frames, each
to be acknowledged by its ``messageId``. A ``bpms_instance_change`` event of a claimed form
becomes one ``approval_instance`` record (the HTTP receiver's shape and dedupe); other events are
acknowledged at once. An event is acknowledged SUCCESS when the consumer asks for the next batch,
i.e. once it has taken the record; a record lost after that (a worker crash before publishing) is
re-read by the catch-up feed, whose cursor never passed it. The first batch of a connection is
empty: it says the stream is open. ``replay_id`` is the event id: a marker of progress only,
DingTalk keeps no stream position (it redelivers what was not acked).
"""

from collections.abc import AsyncGenerator
from typing import Any, Protocol

import aiohttp
import httpx
import orjson

from bizbus.connectors.approvals import StreamBatch
from bizbus.connectors.dingtalk.receiver import DingTalkWebhookReceiver
from bizbus.connectors.dingtalk.settings import DingTalkSettings
from bizbus.connectors.errors import AuthError, TransientError


class StreamHost(Protocol):
    """What the stream needs of its connector (the connector imports this module)."""

    settings: DingTalkSettings
    client: httpx.AsyncClient
    receiver: DingTalkWebhookReceiver


__all__ = ["GATEWAY_PATH", "StreamHost", "stream_batches"]

GATEWAY_PATH = "/v1.0/gateway/connections/open"
_UA = "bizbus-dingtalk-stream/1.0"


def _ack(message_id: Any, data: dict[str, Any], *, code: int = 200) -> str:
    frame = {
        "code": code,
        "headers": {"contentType": "application/json", "messageId": message_id},
        "message": "OK" if code == 200 else "error",
        "data": orjson.dumps(data).decode(),
    }
    return orjson.dumps(frame).decode()


async def _open(connector: StreamHost) -> dict[str, str]:
    settings = connector.settings
    body = {
        "clientId": settings.app_key,
        "clientSecret": settings.app_secret.get_secret_value(),
        "subscriptions": [{"type": "EVENT", "topic": "*"}],
        "ua": _UA,
    }
    response = await connector.client.post(GATEWAY_PATH, json=body)
    if response.status_code in (400, 401, 403):
        raise AuthError(
            "dingtalk: the stream gateway refused the app; check BIZBUS_OA_APP_KEY and "
            "BIZBUS_OA_APP_SECRET", system="dingtalk", status_code=response.status_code,
        )  # fmt: skip
    if response.status_code != 200:
        raise TransientError(
            f"dingtalk: the stream gateway answered {response.status_code}", system="dingtalk"
        )
    answer = orjson.loads(response.content)
    endpoint, ticket = answer.get("endpoint"), answer.get("ticket")
    if not isinstance(endpoint, str) or not isinstance(ticket, str):
        raise TransientError("dingtalk: the stream gateway answered no endpoint", system="dingtalk")
    return {"endpoint": endpoint, "ticket": ticket}


async def stream_batches(connector: StreamHost) -> AsyncGenerator[StreamBatch, None]:
    """Yield one batch per claimed approval event until the connection ends (then return).

    Raises:
        AuthError: The gateway refused the app's credentials.
        TransientError: The gateway or the WebSocket failed; the caller reconnects.
    """
    opened = await _open(connector)
    receiver = connector.receiver
    try:
        async with aiohttp.ClientSession() as session, session.ws_connect(
            opened["endpoint"], params={"ticket": opened["ticket"]}, heartbeat=30
        ) as socket:  # fmt: skip
            # Connected: an empty batch says so (the consumer then catches up by polling what
            # happened before, and counts the stream as subscribed).
            yield StreamBatch(records=(), replay_id=b"connected")
            async for frame in socket:
                if frame.type != aiohttp.WSMsgType.TEXT:
                    if frame.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                        return
                    continue
                message = orjson.loads(frame.data)
                headers = message.get("headers") or {}
                message_id = headers.get("messageId")
                if message.get("type") == "SYSTEM":
                    if headers.get("topic") == "disconnect":
                        return
                    await socket.send_str(_ack(message_id, {}))  # ping and the like
                    continue
                if message.get("type") != "EVENT":
                    await socket.send_str(_ack(message_id, {}, code=404))
                    continue
                try:
                    event = orjson.loads(message.get("data") or "{}")
                except orjson.JSONDecodeError:
                    event = None
                record = None
                if isinstance(event, dict):
                    record = receiver.stream_record(
                        event, str(headers.get("eventType") or ""),
                        event_id=str(headers.get("eventId") or ""),
                        born_ms=headers.get("eventBornTime"),
                    )  # fmt: skip
                if record is not None:
                    marker = str(headers.get("eventId") or message_id).encode()
                    yield StreamBatch(records=(record,), replay_id=marker)
                await socket.send_str(_ack(message_id, {"status": "SUCCESS"}))
    except aiohttp.ClientError as error:
        raise TransientError(
            f"dingtalk: stream connection failed ({type(error).__name__})", system="dingtalk"
        ) from None
