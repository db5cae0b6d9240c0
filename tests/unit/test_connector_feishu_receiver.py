"""FeishuWebhookReceiver on events we encrypt and sign ourselves (AES-256-CBC, sha256 signature)."""

import base64
import hashlib
import logging
import os
import time
import uuid
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from pydantic import SecretStr

from bizbus.connectors.feishu import (
    INSTANCE_ENTITY,
    TRIP_ENTITY,
    TRIP_EVENT_TYPE,
    FeishuConnector,
    FeishuSettings,
    FeishuWebhookReceiver,
    parse_trip_event,
)
from bizbus.connectors.settings import load_settings
from bizbus.connectors.webhooks import FeishuEventVerifier

KEY = "test-encrypt-key"
OLD_KEY = "old-encrypt-key"
TOKEN = "test-verification-token"  # noqa: S105 - a test value
CODE = "7C468A54-8745-2245-9675-08B7C63E7A85"
INSTANCE = "81D31358-93AF-92D6-7425-01A5D67C4E71"


def encrypt(key: str, plaintext: bytes) -> str:
    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(
        algorithms.AES(hashlib.sha256(key.encode()).digest()), modes.CBC(iv)
    ).encryptor()
    return base64.b64encode(iv + encryptor.update(padded) + encryptor.finalize()).decode()


def seal(
    event: dict[str, Any], *, key: str = KEY, stamp: int | None = None, signed: bool = True
) -> tuple[bytes, dict[str, str]]:
    body = orjson.dumps({"encrypt": encrypt(key, orjson.dumps(event))})
    if not signed:
        return body, {"Content-Type": "application/json"}
    ts, nonce = str(stamp if stamp is not None else int(time.time())), uuid.uuid4().hex[:16]
    signature = hashlib.sha256((ts + nonce + key).encode() + body).hexdigest()
    return body, {
        "X-Lark-Request-Timestamp": ts,
        "X-Lark-Request-Nonce": nonce,
        "X-Lark-Signature": signature,
    }


def instance_event(
    status: str = "APPROVED", *, instance: str = INSTANCE, code: str = CODE, event_id: str = ""
) -> dict[str, Any]:
    return {
        "uuid": event_id or uuid.uuid4().hex, "token": TOKEN, "ts": "1727143200.1234567",
        "type": "event_callback",
        "event": {"app_id": "cli_x", "tenant_key": "t", "type": "approval_instance",
                  "approval_code": code, "instance_code": instance, "status": status,
                  "operate_time": "1727143200123", "instance_operate_time": "1727143200123"},
    }  # fmt: skip


def trip_event() -> dict[str, Any]:
    return {
        "schema": "2.0",
        "header": {"event_id": uuid.uuid4().hex, "event_type": TRIP_EVENT_TYPE,
                   "create_time": "1727143200456", "token": TOKEN, "app_id": "cli_x",
                   "tenant_key": "t"},
        "event": {"approval_code": CODE, "instance_code": INSTANCE,
                  "start_user": {"id": {"user_id": "f8ca557e", "open_id": "ou_1",
                                        "union_id": "on_1"}, "name": "张伟"},
                  "trip_reason": "中国国际工业博览会",
                  "schedules": [{"trip_start_time": "2024-09-24T08:00:00+08:00",
                                 "trip_end_time": "2024-09-27T20:00:00+08:00",
                                 "trip_interval": "302400", "departure": "苏州",
                                 "destination": "上海", "transportation": "高铁",
                                 "trip_type": "往返", "remark": ""}],
                  "trip_peers": []},
    }  # fmt: skip


@pytest.fixture
def receiver() -> FeishuWebhookReceiver:
    verifier = FeishuEventVerifier(
        [SecretStr(KEY), SecretStr(OLD_KEY)], verification_tokens=[SecretStr(TOKEN)]
    )
    return FeishuWebhookReceiver(verifier, approval_codes=[CODE])


async def test_url_verification_echoes_the_challenge(receiver: FeishuWebhookReceiver) -> None:
    body, headers = seal(
        {"challenge": "ch-123", "token": TOKEN, "type": "url_verification"}, signed=False
    )
    reply = await receiver.handle(body, headers)
    assert reply.status == 200
    assert orjson.loads(reply.body) == {"challenge": "ch-123"}
    assert reply.records == ()


async def test_a_signed_url_verification_is_answered_too(receiver: FeishuWebhookReceiver) -> None:
    body, headers = seal({"challenge": "ch-456", "token": TOKEN, "type": "url_verification"})
    reply = await receiver.handle(body, headers)
    assert reply.status == 200 and orjson.loads(reply.body) == {"challenge": "ch-456"}
    assert reply.records == ()


async def test_a_signed_challenge_with_a_wrong_token_is_refused(
    receiver: FeishuWebhookReceiver,
) -> None:
    body, headers = seal({"challenge": "ch-7", "token": "nope", "type": "url_verification"})
    assert (await receiver.handle(body, headers)).status == 401


async def test_challenge_with_a_wrong_token_is_refused(receiver: FeishuWebhookReceiver) -> None:
    body, headers = seal(
        {"challenge": "ch-1", "token": "someone-else", "type": "url_verification"}, signed=False
    )
    reply = await receiver.handle(body, headers)
    assert reply.status == 401 and b"ch-1" not in reply.body


async def test_a_bad_signature_is_rejected_before_anything_is_parsed(
    receiver: FeishuWebhookReceiver,
) -> None:
    body, headers = seal(instance_event())
    headers["X-Lark-Signature"] = "0" * 64
    reply = await receiver.handle(body, headers)
    assert reply.status == 401
    assert reply.records == () and "signature" in (reply.reason or "")


async def test_a_body_sealed_with_another_key_is_rejected(receiver: FeishuWebhookReceiver) -> None:
    body, headers = seal(instance_event(), key="not-our-key")
    assert (await receiver.handle(body, headers)).status == 401


async def test_a_stale_timestamp_is_rejected(receiver: FeishuWebhookReceiver) -> None:
    body, headers = seal(instance_event(), stamp=int(time.time()) - 301)
    reply = await receiver.handle(body, headers)
    assert reply.status == 401 and "window" in (reply.reason or "")


async def test_a_plaintext_body_is_rejected(receiver: FeishuWebhookReceiver) -> None:
    reply = await receiver.handle(orjson.dumps(instance_event()), {})
    assert reply.status == 401 and reply.records == ()


async def test_a_replayed_delivery_is_dropped(receiver: FeishuWebhookReceiver) -> None:
    body, headers = seal(instance_event())
    first = await receiver.handle(body, headers)
    again = await receiver.handle(body, headers)
    assert len(first.records) == 1
    assert again.status == 200 and again.records == () and again.reason == "duplicate"


async def test_a_redelivery_with_the_same_event_id_is_dropped(
    receiver: FeishuWebhookReceiver,
) -> None:
    event = instance_event(event_id="evt-1")
    assert len((await receiver.handle(*seal(event))).records) == 1
    # Feishu seals each attempt afresh (new IV, timestamp, nonce); the event id stays.
    assert (await receiver.handle(*seal(event))).records == ()


async def test_two_events_for_one_instance_and_status_make_one_record(
    receiver: FeishuWebhookReceiver,
) -> None:
    first = await receiver.handle(*seal(instance_event("APPROVED")))
    second = await receiver.handle(*seal(instance_event("APPROVED")))
    other_status = await receiver.handle(*seal(instance_event("PENDING")))
    assert len(first.records) == 1
    assert second.status == 200 and second.records == () and second.reason == "duplicate"
    assert [r.payload["status"] for r in other_status.records] == ["PENDING"]


async def test_the_record_is_light_and_carries_its_cursor(receiver: FeishuWebhookReceiver) -> None:
    event = instance_event(event_id="evt-9")
    body, headers = seal(event)
    reply = await receiver.handle(body, headers)
    [record] = reply.records
    assert record.entity == INSTANCE_ENTITY and record.id == INSTANCE
    assert record.cursor.id == INSTANCE
    assert int(record.cursor.modified.timestamp() * 1000) == 1727143200123
    assert record.payload["event_id"] == "evt-9"
    assert record.payload["approval_code"] == CODE and "detail" not in record.payload
    nonce = f"nonce:{headers['X-Lark-Request-Timestamp']}:{headers['X-Lark-Request-Nonce']}"
    assert reply.keys == (nonce, "id:evt-9", f"biz:approval_instance:{INSTANCE}:APPROVED")


async def test_the_trip_event_becomes_an_approval_trip_record(
    receiver: FeishuWebhookReceiver,
) -> None:
    reply = await receiver.handle(*seal(trip_event()))
    [record] = reply.records
    assert record.entity == TRIP_ENTITY and record.id == INSTANCE
    trip = parse_trip_event(record.payload)
    assert trip.destinations == ("上海",) and trip.purpose == "中国国际工业博览会"
    assert trip.applicant_user_id == "f8ca557e"
    assert str(trip.departure_date) == "2024-09-24" and str(trip.return_date) == "2024-09-27"
    assert (await receiver.handle(*seal(trip_event()))).records == ()


async def test_events_of_other_definitions_are_answered_and_ignored(
    receiver: FeishuWebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="bizbus.connectors.feishu.receiver"):
        reply = await receiver.handle(*seal(instance_event(code="OTHER-CODE")))
    assert reply.status == 200 and reply.records == () and reply.reason == "ignored"
    [line] = [r for r in caplog.records if "no handler claims" in r.getMessage()]
    assert line.levelno == logging.INFO and "OTHER-CODE" in line.getMessage()
    assert INSTANCE not in line.getMessage()


async def test_each_record_names_the_handler_that_claims_its_definition() -> None:
    verifier = FeishuEventVerifier([SecretStr(KEY)], verification_tokens=[SecretStr(TOKEN)])
    receiver = FeishuWebhookReceiver(
        verifier, approval_codes=[CODE], handlers={"PURCHASE-1": "travel"}
    )
    assert receiver.claims == {CODE: "travel", "PURCHASE-1": "travel"}
    [record] = (await receiver.handle(*seal(instance_event()))).records
    assert record.payload["handler"] == "travel"
    other = instance_event(code="PURCHASE-1", instance="I-2")
    [record] = (await receiver.handle(*seal(other))).records
    assert record.payload["handler"] == "travel"


async def test_released_keys_let_the_redelivery_through(receiver: FeishuWebhookReceiver) -> None:
    event = instance_event(event_id="evt-r")
    reply = await receiver.handle(*seal(event))
    receiver.release(reply)  # publishing failed: answer 503, Feishu sends it again
    assert len((await receiver.handle(*seal(event))).records) == 1


async def test_the_previous_encrypt_key_still_works_while_rotating(
    receiver: FeishuWebhookReceiver,
) -> None:
    reply = await receiver.handle(*seal(instance_event(), key=OLD_KEY))
    assert reply.status == 200 and len(reply.records) == 1


async def test_the_connector_builds_its_receiver_from_settings() -> None:
    secrets = {"app_secret": "s", "verification_token": TOKEN, "previous_encrypt_key": OLD_KEY}
    settings = load_settings(
        FeishuSettings,
        app_id="cli_a",
        encrypt_key=KEY,
        approval_codes=f"{CODE}, OTHER-1",
        handlers='{"THIRD-1": "travel"}',
        **secrets,
    )
    async with FeishuConnector(settings) as connector:
        assert connector.receiver.approval_codes == {CODE, "OTHER-1", "THIRD-1"}
        assert connector.catch_up_options().approval_codes == (CODE, "OTHER-1", "THIRD-1")
        assert connector.receiver.verifier.tolerance == 300.0
        reply = await connector.receiver.handle(*seal(instance_event(), key=OLD_KEY))
    assert len(reply.records) == 1


async def test_a_badly_signed_body_is_refused_before_it_is_parsed(
    receiver: FeishuWebhookReceiver,
) -> None:
    _, headers = seal(instance_event())
    reply = await receiver.handle(b"{not json at all", headers)
    assert reply.status == 401 and "signature does not match" in (reply.reason or "")
