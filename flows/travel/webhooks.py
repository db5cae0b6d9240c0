"""OA event callbacks on the worker's web server: verified, published, then answered.

`POST /webhooks/<dialect>` (`/webhooks/feishu`, `/webhooks/dingtalk`) hands the raw body,
headers and query to the OA connector's receiver (Feishu's challenge or DingTalk's check_url
answered at once; signature, window, decryption and dedupe on the raw bytes); the page of a
dialect other than `BIZBUS_OA_DIALECT` answers 404. Its dedupe keys
(nonce, event id, business key) live in the worker group's shared `SeenKeys`: each new record is
published as a raw `src.oa.approval-instance` event and acked by the broker, then its keys are
recorded, and only then do we answer 200; a replay, after a restart or to another worker, finds
them and publishes nothing. When publishing or recording fails we forget the claims and answer
503, so the OA redelivers; a record published twice that way keeps its event id (derived from
the OA's), so consumers see one event. Pages run outside stages: nothing here writes a table.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Protocol

from bizbus.connectors.approvals import ApprovalReceiver
from bizbus.connectors.base import SourceRecord
from bizbus.connectors.errors import IntegrationError
from bizbus.connectors.webhooks import ReplayStore
from bizbus.flows.context import Systems
from bizbus.flows.runtime import spec
from bizbus.flows.runtime.deadletter import safe_reason
from bizbus.flows.runtime.polling import correlation_id, raw_event
from bizbus.flows.runtime.spec import Emit, WebRequest, WebResponse

__all__ = [
    "FEISHU_WEBHOOK_PATH",
    "OA_INSTANCE_TOPIC",
    "OA_WEBHOOK_DIALECTS",
    "answer_callback",
    "callback_event_id",
    "feishu_callback",
    "oa_callback",
    "webhook_path",
]

log = logging.getLogger("bizbus.webhooks")

OA_WEBHOOK_DIALECTS = ("feishu", "dingtalk")


def webhook_path(dialect: str) -> str:
    """The worker's callback page of an OA dialect."""
    return f"/webhooks/{dialect}"


FEISHU_WEBHOOK_PATH = webhook_path("feishu")
OA_INSTANCE_TOPIC = "src.oa.approval-instance"
# Feishu waits 3 s for an answer; a slower broker ack is answered 503 (Feishu then redelivers).
# A connector may say less (DingTalk waits 1.5 s): its `callback_deadline_s`.
PUBLISH_DEADLINE_S = 2.5


Receiver = ApprovalReceiver
"""The OA connector's receiver, as the endpoint uses it."""


class Seen(ReplayStore, Protocol):
    """The shared `SeenKeys` as the endpoint uses it: the receiver's store, refreshed, recorded."""

    async def refresh(self) -> None:
        """Return once every key recorded so far, by any worker, is known here."""
        ...

    async def record(self, keys: Iterable[str], *, ttl_s: float) -> None:
        """Remember `keys` for `ttl_s` in every worker; return once acked."""
        ...


Publish = Callable[[SourceRecord], Awaitable[None]]
_RETRY_LATER = 503, b'{"msg":"retry later"}'


async def answer_callback(
    receiver: Receiver,
    publish: Publish,
    raw: bytes,
    headers: Mapping[str, str],
    *,
    seen: Seen | None = None,
    ttl_s: float = 86_400.0,
    query: Mapping[str, str] | None = None,
    deadline_s: float | None = None,
) -> tuple[int, bytes]:
    """Return the (status, body) to answer one callback, once its records are acked.

    A stale or badly signed callback is refused before anything else. With `seen`, the keys
    recorded by any worker are read first, and the reply's keys are
    recorded (for `ttl_s`) after its records are acked. Anything not done within
    ``deadline_s`` releases the reply's claims and answers 503, so the OA's
    redelivery is handled instead of dropped as a duplicate.
    """
    deadline_s = deadline_s if deadline_s is not None else PUBLISH_DEADLINE_S
    refused = receiver.precheck(raw, headers, query)
    if refused is not None:  # forged or stale: answered without reading the replay store
        return refused.status, refused.body
    try:
        if seen is not None:
            await asyncio.wait_for(seen.refresh(), deadline_s)
    except Exception as error:  # noqa: BLE001 - any failure: the OA must redeliver
        log.error("OA callback not checked for replays (%s), answering 503", safe_reason(error))
        return _RETRY_LATER
    reply = await receiver.handle(raw, headers, query)
    try:
        async with asyncio.timeout(deadline_s):
            for record in reply.records:
                await publish(record)
            if seen is not None and reply.keys:
                await seen.record(reply.keys, ttl_s=ttl_s)
    except Exception as error:  # noqa: BLE001 - any failure: the OA must redeliver
        receiver.release(reply)
        log.error(
            "OA event not published and recorded (%s), answering 503 so the OA redelivers",
            safe_reason(error),
        )
        return _RETRY_LATER
    return reply.status, reply.body


def callback_event_id(record: SourceRecord) -> str | None:
    """Return the raw event id of a callback record: one per OA event id (None: no id)."""
    event_id = record.payload.get("event_id")
    if not isinstance(event_id, str) or not event_id:
        return None
    return correlation_id("oa-callback", f"{event_id}:{record.entity}:{record.id}")


async def oa_callback(
    connections: Systems,
    request: WebRequest,
    publish: spec.Publish,
    *,
    dialect: str | None = None,
    topic: str = OA_INSTANCE_TOPIC,
    seen: Seen | None = None,
) -> WebResponse:
    """Answer one OA callback, once its records are published to `topic` and acked.

    `dialect`: the page's dialect; a callback to another dialect's page than the configured
    OA's is answered 404. `seen`: the worker group's shared dedupe keys (None: the
    connector's in-memory cache).
    """
    try:
        oa = await connections.oa()
    except IntegrationError as error:  # bad settings: loud, and the OA retries later
        log.error("OA webhook cannot verify events: %s", safe_reason(error))
        return WebResponse(503, b'{"msg":"not configured"}')
    if dialect is not None and getattr(oa, "dialect", dialect) != dialect:
        return WebResponse(404, b'{"msg":"this OA dialect is not configured"}')
    if seen is not None and oa.receiver.replay is not seen:
        oa.receiver.replay = seen  # every worker's dedupe keys, not this one's alone

    async def publish_record(record: SourceRecord) -> None:
        event = raw_event("oa", record, event_id=callback_event_id(record))
        await publish(Emit(event, topic=topic))

    status, body = await answer_callback(
        oa.receiver, publish_record, request.body, request.headers,
        seen=seen, ttl_s=oa.settings.replay_ttl_s, query=request.query,
        deadline_s=getattr(oa, "callback_deadline_s", None),
    )  # fmt: skip
    return WebResponse(status, body)


async def feishu_callback(
    connections: Systems,
    request: WebRequest,
    publish: spec.Publish,
    *,
    topic: str = OA_INSTANCE_TOPIC,
    seen: Seen | None = None,
) -> WebResponse:
    """`oa_callback` of the Feishu page (`POST /webhooks/feishu`)."""
    return await oa_callback(
        connections, request, publish, dialect="feishu", topic=topic, seen=seen
    )
