"""DingTalk event callbacks (HTTP push): verified, decrypted, deduped; answered within 1.5 s.

The request is ``POST <url>?msg_signature=&timestamp=&nonce=`` (``signature`` in older pushes)
with body ``{"encrypt": ...}``. ``handle`` checks the signature over (token, timestamp, nonce,
encrypt) on the raw values, our ±``tolerance`` window on the millisecond timestamp and the nonce
(replay), then decrypts. The answer is always DingTalk's encrypted ``success`` (also for the
``check_url`` registration probe); anything else makes DingTalk retry. ``bpms_instance_change``
becomes an ``approval_instance`` record, deduped again by (instance, type, result); task events
and forms no handler claims are answered and dropped. No I/O here.
"""

import logging
import secrets
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from bizbus.connectors.approvals import INSTANCE_ENTITY, WebhookReply
from bizbus.connectors.base import Cursor, SourceRecord
from bizbus.connectors.dingtalk.crypto import DingTalkCrypto
from bizbus.connectors.dingtalk.forms import parse_time
from bizbus.connectors.feishu.handlers import DEFAULT_HANDLER, HANDLER_KEY
from bizbus.connectors.webhooks import ReplayCache, ReplayStore

__all__ = ["INSTANCE_EVENT", "TASK_EVENT", "DingTalkWebhookReceiver", "event_status"]

logger = logging.getLogger(__name__)

INSTANCE_EVENT = "bpms_instance_change"
TASK_EVENT = "bpms_task_change"
CHECK_URL = "check_url"
_REFUSED = 401, b'{"msg":"rejected"}'


def event_status(event: Mapping[str, Any]) -> str:
    """The neutral status an instance event announces (the detail may say more)."""
    kind, result = event.get("type"), event.get("result")
    if kind == "finish":
        return "APPROVED" if result == "agree" else "REJECTED"
    if kind == "terminate":
        return "CANCELED"
    return "PENDING"


class DingTalkWebhookReceiver:
    """Turns DingTalk approval callbacks into ``SourceRecord``s.

    Args:
        crypto: The app's token, EncodingAESKey and owner keys.
        handlers: Process code → handler; an event of another form is answered and ignored.
        tolerance: Allowed clock skew of the signed timestamp, in seconds.
        replay: Dedupe store of nonces and business keys.
        clock: Wall clock in seconds (tests).
    """

    def __init__(
        self,
        crypto: DingTalkCrypto,
        *,
        handlers: Mapping[str, str],
        tolerance: float = 300.0,
        replay: ReplayStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.crypto = crypto
        self.claims = dict(handlers)
        self.tolerance = tolerance
        self._replay: ReplayStore = replay if replay is not None else ReplayCache()
        self._clock = clock

    @property
    def replay(self) -> ReplayStore:
        """The dedupe store of nonces and business keys."""
        return self._replay

    @replay.setter
    def replay(self, store: ReplayStore) -> None:
        self._replay = store

    def _signed(
        self, raw_body: bytes, query: Mapping[str, str] | None
    ) -> tuple[str, str, str] | str:
        """(timestamp, nonce, encrypt) of a well-signed fresh callback, else why not."""
        query = query or {}
        given = query.get("msg_signature") or query.get("signature")
        stamp, nonce = query.get("timestamp"), query.get("nonce")
        if not given or not stamp or not nonce:
            return "dingtalk: callback lacks msg_signature, timestamp or nonce"
        try:
            body = orjson.loads(raw_body)
        except orjson.JSONDecodeError:
            return "dingtalk: callback body is not JSON"
        encrypt = body.get("encrypt") if isinstance(body, dict) else None
        if not isinstance(encrypt, str) or not encrypt:
            return "dingtalk: callback body has no encrypt"
        if not self.crypto.signed(stamp, nonce, encrypt, given):
            return "dingtalk: callback signature does not match (check BIZBUS_OA_CALLBACK_TOKEN)"
        try:
            sent = int(stamp) / (1000 if len(stamp) > 11 else 1)
        except ValueError:
            return "dingtalk: callback timestamp is not a number"
        if abs(self._clock() - sent) > self.tolerance:
            return "dingtalk: callback timestamp outside the allowed window"
        return stamp, nonce, encrypt

    def precheck(
        self, raw_body: bytes, headers: Mapping[str, str], query: Mapping[str, str] | None = None
    ) -> WebhookReply | None:
        """Answer a stale or forged callback at once (before any replay-store read); else None."""
        checked = self._signed(raw_body, query)
        return _rejected(checked) if isinstance(checked, str) else None

    async def handle(
        self, raw_body: bytes, headers: Mapping[str, str], query: Mapping[str, str] | None = None
    ) -> WebhookReply:
        """Verify and decode one callback; never raises for a bad request, answers it."""
        checked = self._signed(raw_body, query)
        if isinstance(checked, str):
            return _rejected(checked)
        stamp, nonce, encrypt = checked
        try:
            event = orjson.loads(self.crypto.decrypt(encrypt))
        except (ValueError, orjson.JSONDecodeError):
            return _rejected("dingtalk: callback does not decrypt (check BIZBUS_OA_AES_KEY)")
        if not isinstance(event, dict):
            return _rejected("dingtalk: callback event is not a JSON object")
        answer = self._success()
        kind = event.get("EventType") or event.get("eventType")
        if kind == CHECK_URL:
            return WebhookReply(status=200, body=answer, reason="challenge")
        nonce_key = f"dingtalk:nonce:{stamp}:{nonce}"
        if not self.replay.check_and_add(nonce_key):
            return WebhookReply(status=200, body=answer, reason="duplicate")
        record, business_key = self._record(event, kind, stamp)
        if record is None:
            return WebhookReply(status=200, body=answer, reason="ignored", keys=(nonce_key,))
        if not self.replay.check_and_add(business_key):
            return WebhookReply(status=200, body=answer, reason="duplicate", keys=(nonce_key,))
        keys = (nonce_key, business_key)
        return WebhookReply(status=200, body=answer, records=(record,), keys=keys)

    def release(self, reply: WebhookReply) -> None:
        """Forget the dedupe keys of ``reply`` (its records could not be published)."""
        for key in reply.keys:
            self.replay.discard(key)

    def stream_record(
        self, event: dict[str, Any], event_type: str, *, event_id: str, born_ms: Any
    ) -> SourceRecord | None:
        """The record of a Stream-mode event (its type and id ride in the frame's headers).

        None for other events, unclaimed forms and duplicates (by instance, type, result).
        """
        stamp = str(born_ms) if str(born_ms or "").isdigit() else str(int(self._clock() * 1000))
        record, business_key = self._record(
            {**event, "eventId": event_id or event.get("eventId")}, event_type, stamp
        )
        if record is None or not self.replay.check_and_add(business_key):
            return None
        return record

    def _success(self) -> bytes:
        stamp = str(int(self._clock() * 1000))
        return orjson.dumps(self.crypto.reply("success", timestamp=stamp,
                                              nonce=secrets.token_hex(8)))  # fmt: skip

    def _record(
        self, event: dict[str, Any], kind: Any, stamp: str
    ) -> tuple[SourceRecord | None, str]:
        instance_id = event.get("processInstanceId")
        if kind != INSTANCE_EVENT or not isinstance(instance_id, str) or not instance_id:
            return None, ""  # task events repeat what the instance events say
        code = event.get("processCode")
        handler = self.claims.get(code) if isinstance(code, str) else None
        if handler is None and self.claims:
            logger.info(
                "OA event of approval definition %s ignored: no handler claims it "
                "(BIZBUS_OA_HANDLERS / BIZBUS_OA_PROCESS_CODES)",
                code[:64] if isinstance(code, str) else "(none)",
            )
            return None, ""
        status = event_status(event)
        when = (
            parse_time(event.get("finishTime"))
            or parse_time(event.get("createTime"))
            or datetime.fromtimestamp(int(stamp) / 1000, UTC)
        )
        payload: dict[str, Any] = {
            **event,
            "approval_code": code,
            "instance_code": instance_id,
            "status": status,
            "event_id": event.get("eventId"),
            "event_type": INSTANCE_ENTITY,
            HANDLER_KEY: handler or DEFAULT_HANDLER,
        }
        record = SourceRecord(
            entity=INSTANCE_ENTITY,
            id=instance_id,
            cursor=Cursor(when, instance_id),
            payload=payload,
            modified_at=when,
        )
        result = event.get("result") or ""
        return record, f"biz:{INSTANCE_ENTITY}:{instance_id}:{event.get('type')}:{result}"


def _rejected(reason: str) -> WebhookReply:
    logger.warning("%s", reason)
    status, body = _REFUSED
    return WebhookReply(status=status, body=body, reason=reason)
