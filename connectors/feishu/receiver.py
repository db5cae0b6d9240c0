"""Feishu/Lark approval event receiver: framework-agnostic, answers within Feishu's 1 s / 3 s.

``handle(raw_body, headers)`` answers the ``url_verification`` challenge at once, verifies
signature, ±300 s window and nonce on the raw bytes before parsing (``FeishuEventVerifier``),
decrypts, then drops duplicates twice: by event id, and by business key (instance code +
status; leave approvals send two events with different ids for one instance). It returns
lightweight records; the caller fetches details after answering. No I/O here.
"""

import logging
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

import orjson

from bizbus.connectors.approvals import INSTANCE_ENTITY, WebhookReply
from bizbus.connectors.base import Cursor, SourceRecord
from bizbus.connectors.errors import RejectedError, SchemaError
from bizbus.connectors.feishu.forms import parse_ms
from bizbus.connectors.feishu.handlers import DEFAULT_HANDLER, HANDLER_KEY, claims_of
from bizbus.connectors.webhooks import FeishuEventVerifier, ReplayStore, VerifiedWebhook

__all__ = [
    "INSTANCE_ENTITY",
    "TRIP_ENTITY",
    "TRIP_EVENT_TYPE",
    "FeishuWebhookReceiver",
    "WebhookReply",
]

logger = logging.getLogger(__name__)

TRIP_ENTITY = "approval_trip"
TRIP_EVENT_TYPE = "approval.instance.trip_group_update_v4"


class FeishuWebhookReceiver:
    """Turns Feishu approval callbacks into ``SourceRecord``s.

    Entities: ``approval_instance`` (schema 1.0 ``approval_instance``: id = instance code,
    payload = the event plus ``event_id``/``event_type``) and ``approval_trip`` (schema 2.0
    ``approval.instance.trip_group_update_v4``, parse with ``forms.parse_trip_event``). Other
    events that name an instance (``leave_approval``, ...) keep their event type as entity.
    Cursors are (operate time, instance code), the axis catch-up polling uses. Each payload
    names the handler that claims its definition (``handler``); an event of a definition no
    handler claims is answered 200 and ignored with one INFO line naming the code.

    Args:
        verifier: Signature, window, token and replay checks (its store also holds business keys).
        approval_codes: Definitions read by the default handler (``travel``).
        handlers: Definitions read by the handler named (code → handler); with neither, every
            definition is handed on to the default handler.
    """

    def __init__(
        self,
        verifier: FeishuEventVerifier,
        *,
        approval_codes: Collection[str] = (),
        handlers: Mapping[str, str] | None = None,
    ) -> None:
        self.verifier = verifier
        self.claims = claims_of(approval_codes, handlers or {})
        self.approval_codes = frozenset(self.claims)

    @property
    def replay(self) -> ReplayStore:
        """The dedupe store of event ids and business keys (the verifier's)."""
        return self.verifier.replay

    @replay.setter
    def replay(self, store: ReplayStore) -> None:
        self.verifier.replay = store

    def precheck(
        self, raw_body: bytes, headers: Mapping[str, str], query: Mapping[str, str] | None = None
    ) -> WebhookReply | None:
        """Answer a stale or forged callback at once (before any replay-store read); else None."""
        try:
            self.verifier.check_signed(headers, raw_body)
        except RejectedError as exc:
            return _rejected(exc)
        return None

    async def handle(
        self, raw_body: bytes, headers: Mapping[str, str], query: Mapping[str, str] | None = None
    ) -> WebhookReply:
        """Verify and decode one callback; never raises for a bad request, answers it.

        ``query`` is unused: Feishu signs headers and body only.
        """
        try:
            verified = self.verifier.verify(headers, raw_body)
        except RejectedError as exc:
            return _rejected(exc)
        challenge = verified.challenge
        if challenge is None and verified.payload.get("type") == "url_verification":
            # Feishu may sign the challenge request too; then it was verified as an event.
            found = verified.payload.get("challenge")
            challenge = found if isinstance(found, str) else None
        if challenge is not None:
            body = orjson.dumps({"challenge": challenge})
            return WebhookReply(status=200, body=body, reason="challenge")
        if verified.duplicate:
            return WebhookReply(status=200, reason="duplicate", keys=verified.keys)
        try:
            record, business_key = self._record(verified)
        except SchemaError as exc:
            # Signed by Feishu but unreadable: a redelivery would not read better; catch-up
            # polling still finds the instance.
            logger.error("%s", exc)
            return WebhookReply(status=200, reason=str(exc), keys=verified.keys)
        if record is None:
            return WebhookReply(status=200, reason="ignored", keys=verified.keys)
        if not self.verifier.replay.check_and_add(business_key):
            return WebhookReply(status=200, reason="duplicate", keys=verified.keys)
        keys = (*verified.keys, business_key)
        return WebhookReply(status=200, records=(record,), keys=keys)

    def release(self, reply: WebhookReply) -> None:
        """Forget the dedupe keys of ``reply`` (its records could not be published)."""
        for key in reply.keys:
            self.verifier.replay.discard(key)

    def _record(self, verified: VerifiedWebhook) -> tuple[SourceRecord | None, str]:
        payload = verified.payload
        event = payload.get("event")
        if not isinstance(event, dict):
            raise SchemaError("feishu: callback has no event object")
        event_type = verified.event_type or ""
        code = event.get("instance_code")
        if not isinstance(code, str) or not code:
            return None, ""
        approval = event.get("approval_code")
        handler = self.claims.get(approval) if isinstance(approval, str) else None
        if handler is None and self.claims:
            logger.info(
                "OA event of approval definition %s ignored: no handler claims it "
                "(BIZBUS_OA_HANDLERS / BIZBUS_OA_APPROVAL_CODES)",
                approval[:64] if isinstance(approval, str) else "(none)",
            )
            return None, ""
        header = payload.get("header")
        if event_type == TRIP_EVENT_TYPE:
            entity, state = TRIP_ENTITY, "TRIP"
            stamp = header.get("create_time") if isinstance(header, dict) else None
        else:
            entity = INSTANCE_ENTITY if event_type == INSTANCE_ENTITY else event_type
            status = event.get("status")
            state = status if isinstance(status, str) and status else event_type
            stamp = event.get("operate_time") or event.get("instance_operate_time")
        when = _moment(stamp, payload.get("ts"), verified.sent_at)
        body: dict[str, Any] = {
            **event,
            "event_id": verified.event_id,
            "event_type": event_type,
            HANDLER_KEY: handler or DEFAULT_HANDLER,
        }
        record = SourceRecord(
            entity=entity,
            id=code,
            cursor=Cursor(when, code),
            payload=body,
            modified_at=when,
            deleted=state == "DELETED",
        )
        return record, f"biz:{entity}:{code}:{state}"


def _rejected(exc: RejectedError) -> WebhookReply:
    logger.warning("%s", exc)
    status = exc.status_code if exc.status_code in (400, 401) else 401
    return WebhookReply(status=status, body=b'{"msg":"rejected"}', reason=str(exc))


def _moment(stamp: Any, ts: Any, sent_at: datetime | None) -> datetime:
    """Operate time (ms, int on REVERTED, string otherwise), else ``ts`` (s), else signed time."""
    when = parse_ms(stamp)
    if when is None and isinstance(ts, str):
        try:
            when = parse_ms(int(float(ts) * 1000))
        except ValueError:
            when = None
    if when is None:
        when = sent_at
    if when is None:
        raise SchemaError("feishu: event has no time")
    return when
