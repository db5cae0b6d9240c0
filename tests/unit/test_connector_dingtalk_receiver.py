"""DingTalkWebhookReceiver: check_url, instance events as records, dedupe, refusals."""

import base64
from typing import Any

import orjson
import pytest

from bizbus.connectors.dingtalk.crypto import DingTalkCrypto
from bizbus.connectors.dingtalk.receiver import DingTalkWebhookReceiver, event_status
from bizbus.deploy.sandbox.dingtalk import crypto as platform

AES_KEY = base64.b64encode(bytes(range(32))).decode().rstrip("=")
APP_KEY, TOKEN = "dingtestappkey", "callback-token"
TRIP, PURCHASE = "PROC-TRIP", "PROC-BUY"
NOW = 1_800_000_000.0


def receiver() -> DingTalkWebhookReceiver:
    crypto = DingTalkCrypto(TOKEN, AES_KEY, [APP_KEY])
    return DingTalkWebhookReceiver(crypto, handlers={TRIP: "travel"}, clock=lambda: NOW)


def push(
    event: dict[str, Any], *, at: float = NOW, nonce: str = "n1"
) -> tuple[bytes, dict[str, str]]:
    stamp = str(int(at * 1000))
    encrypt = platform.seal(AES_KEY, APP_KEY, orjson.dumps(event).decode())
    query = {"msg_signature": platform.sign(TOKEN, stamp, nonce, encrypt), "timestamp": stamp,
             "nonce": nonce}  # fmt: skip
    return orjson.dumps({"encrypt": encrypt}), query


def instance_event(
    kind: str = "finish", result: str | None = "agree", **extra: Any
) -> dict[str, Any]:
    event = {"EventType": "bpms_instance_change", "processInstanceId": "inst-1",
             "processCode": TRIP, "corpId": "dingcorp", "type": kind, "staffId": "u1",
             "createTime": 1_799_999_000_000, "finishTime": 1_799_999_900_000, **extra}  # fmt: skip
    if result is not None:
        event["result"] = result
    return event


def said_success(body: bytes) -> bool:
    answer = orjson.loads(body)
    signed = platform.sign(TOKEN, answer["timeStamp"], answer["nonce"], answer["encrypt"])
    return signed == answer["msg_signature"] and platform.open_sealed(
        AES_KEY, answer["encrypt"]
    ) == ("success", APP_KEY)


async def test_check_url_is_answered_with_an_encrypted_success() -> None:
    body, query = push({"EventType": "check_url"})
    reply = await receiver().handle(body, {}, query)
    assert (reply.status, reply.reason, reply.records) == (200, "challenge", ())
    assert said_success(reply.body)


async def test_an_approval_becomes_one_record_with_the_neutral_status() -> None:
    target = receiver()
    body, query = push(instance_event())
    reply = await target.handle(body, {}, query)
    assert reply.status == 200 and said_success(reply.body)
    [record] = reply.records
    assert (record.entity, record.id) == ("approval_instance", "inst-1")
    assert record.payload["status"] == "APPROVED" and record.payload["handler"] == "travel"
    assert record.payload["approval_code"] == TRIP
    assert record.cursor.modified.timestamp() == 1_799_999_900
    again_body, again_query = push(instance_event(), nonce="n2")  # redelivered, new nonce
    again = await target.handle(again_body, {}, again_query)
    assert (again.reason, again.records) == ("duplicate", ()) and said_success(again.body)
    replayed = await target.handle(body, {}, query)  # the very same request
    assert replayed.reason == "duplicate"


async def test_released_keys_let_the_redelivery_through() -> None:
    target = receiver()
    body, query = push(instance_event())
    reply = await target.handle(body, {}, query)
    target.release(reply)
    assert (await target.handle(body, {}, query)).records


@pytest.mark.parametrize(
    ("kind", "result", "status"),
    [("start", None, "PENDING"), ("finish", "agree", "APPROVED"),
     ("finish", "refuse", "REJECTED"), ("terminate", None, "CANCELED")],
)  # fmt: skip
def test_event_statuses(kind: str, result: str | None, status: str) -> None:
    assert event_status(instance_event(kind, result)) == status


async def test_task_events_and_unclaimed_forms_are_answered_and_dropped() -> None:
    target = receiver()
    for n, event in enumerate([
        {**instance_event(), "EventType": "bpms_task_change"},
        instance_event(processCode=PURCHASE),
    ]):  # fmt: skip
        body, query = push(event, nonce=f"x{n}")
        reply = await target.handle(body, {}, query)
        assert (reply.status, reply.reason, reply.records) == (200, "ignored", ())
        assert said_success(reply.body)


async def test_forged_stale_or_unsigned_callbacks_are_refused() -> None:
    target = receiver()
    body, query = push(instance_event())
    forged = {**query, "msg_signature": "0" * 40}
    stale_body, stale = push(instance_event(), at=NOW - 301)
    for raw, params in [(body, forged), (stale_body, stale), (body, {}),
                        (b'{"encrypt": 1}', query), (b"nope", query)]:  # fmt: skip
        assert target.precheck(raw, {}, params) is not None
        reply = await target.handle(raw, {}, params)
        assert reply.status == 401 and reply.records == ()
    assert (await target.handle(body, {}, query)).records  # nothing of it was remembered


async def test_a_callback_sealed_with_another_key_is_refused() -> None:
    other = base64.b64encode(bytes(range(1, 33))).decode().rstrip("=")
    stamp, nonce = str(int(NOW * 1000)), "n"
    encrypt = platform.seal(other, APP_KEY, orjson.dumps(instance_event()).decode())
    query = {"signature": platform.sign(TOKEN, stamp, nonce, encrypt), "timestamp": stamp,
             "nonce": nonce}  # fmt: skip
    reply = await receiver().handle(orjson.dumps({"encrypt": encrypt}), {}, query)
    assert reply.status == 401 and "AES_KEY" in (reply.reason or "")
