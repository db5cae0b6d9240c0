"""Sandbox OA crypto and sealed events against lark-oapi's own decryption and checks."""

import hashlib
import json

import pytest
from lark_oapi.core.model import RawRequest
from lark_oapi.core.utils import AESCipher
from lark_oapi.event.custom import CustomizedEvent
from lark_oapi.event.dispatcher_handler import EventDispatcherHandler

from bizbus.deploy.sandbox.oa import crypto
from bizbus.deploy.sandbox.oa.events import AppIdentity, seal, url_verification

APP = AppIdentity("cli_sandbox0001", "2ed263bf32cf1651", "sandbox-encrypt-key", "vt-123")


def _request(body: bytes, headers: dict[str, str]) -> RawRequest:
    request = RawRequest()
    request.uri, request.body, request.headers = "/callback", body, dict(headers)
    return request


def test_encrypt_round_trips_and_lark_decrypts_it() -> None:
    plaintext = json.dumps({"msg": "出差申请 已通过"}, ensure_ascii=False)
    sealed = crypto.encrypt("sandbox-encrypt-key", plaintext)
    assert crypto.decrypt("sandbox-encrypt-key", sealed) == plaintext
    assert AESCipher("sandbox-encrypt-key").decrypt_str(sealed) == plaintext


def test_each_encryption_uses_a_fresh_iv() -> None:
    assert crypto.encrypt("k", "same") != crypto.encrypt("k", "same")
    fixed = b"\x01" * 16
    assert crypto.encrypt("k", "same", iv=fixed) == crypto.encrypt("k", "same", iv=fixed)


def test_decrypt_with_the_wrong_key_fails() -> None:
    sealed = crypto.encrypt("right-key", "secret payload")
    with pytest.raises(ValueError):
        crypto.decrypt("wrong-key", sealed)


def test_signature_is_sha256_of_timestamp_nonce_key_body() -> None:
    expected = hashlib.sha256(b"1700000000" + b"abc" + b"key" + b'{"encrypt":"x"}').hexdigest()
    assert crypto.sign("1700000000", "abc", "key", b'{"encrypt":"x"}') == expected


def test_lark_dispatcher_accepts_a_sealed_v1_event_and_rejects_a_tampered_one() -> None:
    received: list[CustomizedEvent] = []
    handler = (
        EventDispatcherHandler.builder(APP.encrypt_key, APP.verification_token)
        .register_p1_customized_event("approval_instance", received.append)
        .build()
    )
    event = {
        "uuid": "e1", "token": APP.verification_token, "ts": "1700000000.0000000",
        "type": "event_callback",
        "event": {"type": "approval_instance", "instance_code": "I-1", "status": "APPROVED"},
    }  # fmt: skip
    envelope = seal(APP, event)
    response = handler.do(_request(envelope.body, envelope.headers))
    assert response.status_code == 200, response.content
    assert received[0].event["status"] == "APPROVED"

    tampered = dict(envelope.headers, **{"X-Lark-Signature": "0" * 64})
    assert handler.do(_request(envelope.body, tampered)).status_code == 500
    assert len(received) == 1


def test_lark_dispatcher_answers_the_sealed_challenge() -> None:
    handler = EventDispatcherHandler.builder(APP.encrypt_key, APP.verification_token).build()
    envelope = seal(APP, url_verification(APP, "chal-42"))
    assert json.loads(envelope.body).keys() == {"encrypt"}
    response = handler.do(_request(envelope.body, envelope.headers))
    assert response.status_code == 200
    assert json.loads(response.content) == {"challenge": "chal-42"}


def test_lark_dispatcher_refuses_a_challenge_with_another_verification_token() -> None:
    handler = EventDispatcherHandler.builder(APP.encrypt_key, "another-token").build()
    envelope = seal(APP, url_verification(APP, "chal-42"))
    assert handler.do(_request(envelope.body, envelope.headers)).status_code == 500
