"""Webhook verification: Feishu encryption + signature, window, replay."""

import base64
import hashlib
import json
import os
from typing import Any

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from pydantic import SecretStr

from bizbus.connectors.errors import ConfigError, RejectedError
from bizbus.connectors.webhooks import (
    FeishuEventVerifier,
    ReplayCache,
    decrypt_feishu,
)

NOW = 1_777_000_000
ENCRYPT_KEY = "test-encrypt-key"
NEXT_KEY = "rotated-encrypt-key"
TOKEN = "v-token-123"  # noqa: S105  (test fixture)


def feishu_encrypt(plain: dict[str, Any], key: str) -> str:
    """Encrypt as the Feishu open platform documents: AES-256-CBC, sha256 key, IV prefix."""
    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    data = padder.update(json.dumps(plain, ensure_ascii=False).encode()) + padder.finalize()
    cipher = Cipher(algorithms.AES(hashlib.sha256(key.encode()).digest()), modes.CBC(iv))
    encryptor = cipher.encryptor()
    ct = encryptor.update(data) + encryptor.finalize()
    return base64.b64encode(iv + ct).decode()


def feishu_request(
    plain: dict[str, Any], *, key: str = ENCRYPT_KEY, ts: int = NOW, nonce: str = "n-1"
) -> tuple[dict[str, str], bytes]:
    body = json.dumps({"encrypt": feishu_encrypt(plain, key)}).encode()
    signature = hashlib.sha256(f"{ts}{nonce}{key}".encode() + body).hexdigest()
    headers = {
        "X-Lark-Request-Timestamp": str(ts),
        "X-Lark-Request-Nonce": nonce,
        "X-Lark-Signature": signature,
    }
    return headers, body


def approval_event(event_id: str = "ev-1", token: str = TOKEN) -> dict[str, Any]:
    return {
        "schema": "2.0",
        "header": {
            "event_id": event_id,
            "event_type": "approval.instance.trip_group_update_v4",
            "token": token,
            "create_time": "1777000000000",
        },
        "event": {"instance_code": "81D31358-93AF-92D6-7425-01A5D67C4E71", "申请人": "张伟"},
    }


def feishu(**kwargs: Any) -> FeishuEventVerifier:
    return FeishuEventVerifier(
        [SecretStr(ENCRYPT_KEY)],
        verification_tokens=[SecretStr(TOKEN)],
        clock=lambda: NOW,
        **kwargs,
    )


def test_feishu_decrypt_matches_documented_scheme() -> None:
    encrypted = feishu_encrypt({"hello": "世界"}, ENCRYPT_KEY)
    assert json.loads(decrypt_feishu(encrypted, ENCRYPT_KEY)) == {"hello": "世界"}
    with pytest.raises(ValueError):
        decrypt_feishu(encrypted, "wrong key")


def test_feishu_signed_event_is_verified_and_decrypted() -> None:
    headers, body = feishu_request(approval_event())
    result = feishu().verify(headers, body)
    assert result.event_id == "ev-1"
    assert result.event_type == "approval.instance.trip_group_update_v4"
    assert result.payload["event"]["申请人"] == "张伟"
    assert not result.duplicate


def test_feishu_headers_are_case_insensitive() -> None:
    headers, body = feishu_request(approval_event())
    assert feishu().verify({k.lower(): v for k, v in headers.items()}, body).event_id == "ev-1"


def test_feishu_tampered_body_is_rejected() -> None:
    headers, body = feishu_request(approval_event())
    tampered = body.replace(b'"}', b'A"}')
    with pytest.raises(RejectedError, match="signature") as caught:
        feishu().verify(headers, tampered)
    assert caught.value.status_code == 401


@pytest.mark.parametrize("skew", [-301, 301])
def test_feishu_outside_the_window_is_rejected(skew: int) -> None:
    headers, body = feishu_request(approval_event(), ts=NOW + skew)
    with pytest.raises(RejectedError, match="window"):
        feishu().verify(headers, body)


def test_feishu_inside_the_window_is_accepted() -> None:
    headers, body = feishu_request(approval_event(), ts=NOW - 300)
    assert feishu().verify(headers, body).event_id == "ev-1"


def test_feishu_replayed_request_is_a_duplicate() -> None:
    verifier = feishu()
    headers, body = feishu_request(approval_event())
    assert not verifier.verify(headers, body).duplicate
    assert verifier.verify(headers, body).duplicate


def test_feishu_redelivery_with_new_nonce_is_deduped_by_event_id() -> None:
    verifier = feishu()
    verifier.verify(*feishu_request(approval_event(), nonce="a"))
    assert verifier.verify(*feishu_request(approval_event(), nonce="b")).duplicate
    assert not verifier.verify(*feishu_request(approval_event("ev-2"), nonce="c")).duplicate


def test_feishu_wrong_verification_token_is_rejected() -> None:
    headers, body = feishu_request(approval_event(token="other"))  # noqa: S106  (test value)
    with pytest.raises(RejectedError, match="token"):
        feishu().verify(headers, body)


def test_feishu_two_keys_during_rotation() -> None:
    verifier = FeishuEventVerifier(
        [SecretStr(ENCRYPT_KEY), SecretStr(NEXT_KEY)],
        verification_tokens=[SecretStr(TOKEN)],
        clock=lambda: NOW,
    )
    old = verifier.verify(*feishu_request(approval_event("a"), key=ENCRYPT_KEY, nonce="1"))
    new = verifier.verify(*feishu_request(approval_event("b"), key=NEXT_KEY, nonce="2"))
    assert (old.event_id, new.event_id) == ("a", "b")
    with pytest.raises(RejectedError):
        verifier.verify(*feishu_request(approval_event("c"), key="retired", nonce="3"))


def test_feishu_url_verification_answers_the_challenge() -> None:
    plain = {"challenge": "ajls384kdjx98XX", "token": TOKEN, "type": "url_verification"}
    body = json.dumps({"encrypt": feishu_encrypt(plain, ENCRYPT_KEY)}).encode()
    result = feishu().verify({}, body)
    assert result.challenge == "ajls384kdjx98XX"


def test_feishu_unsigned_event_is_rejected() -> None:
    _, body = feishu_request(approval_event())
    with pytest.raises(RejectedError, match="signature header missing"):
        feishu().verify({}, body)


def test_feishu_plaintext_callbacks_are_refused() -> None:
    with pytest.raises(RejectedError, match="not encrypted"):
        feishu().verify({}, json.dumps(approval_event()).encode())


def test_feishu_schema_1_event_uses_uuid() -> None:
    event = {"uuid": "u-1", "token": TOKEN, "ts": "1", "type": "event_callback"}
    event["event"] = {"type": "approval_instance", "status": "APPROVED"}  # type: ignore[assignment]
    result = feishu().verify(*feishu_request(event))
    assert (result.event_id, result.event_type) == ("u-1", "approval_instance")


def test_feishu_needs_configured_secrets() -> None:
    with pytest.raises(ConfigError):
        FeishuEventVerifier([], verification_tokens=[SecretStr(TOKEN)])


def test_replay_cache_expires_and_is_bounded() -> None:
    now = [0.0]
    cache = ReplayCache(ttl=10, max_entries=3, clock=lambda: now[0])
    assert cache.check_and_add("a")
    assert not cache.check_and_add("a")
    now[0] = 11
    assert cache.check_and_add("a")
    for key in "bcde":
        cache.check_and_add(key)
    assert len(cache) == 3


def test_replay_cache_forgets_the_id_seen_longest_ago_and_never_extends_a_ttl() -> None:
    now = [0.0]
    cache = ReplayCache(ttl=10, max_entries=2, clock=lambda: now[0])
    assert cache.check_and_add("a") and cache.check_and_add("b")
    now[0] = 5
    assert not cache.check_and_add("a")  # a duplicate: still remembered from t=0
    assert cache.check_and_add("c")  # full: "a", seen longest ago, is forgotten
    assert cache.check_and_add("a") and not cache.check_and_add("c")
    now[0] = 15
    assert cache.check_and_add("c")  # its 10 s ran out at t=15, not extended by the repeat
    cache.discard("e")
    assert cache.check_and_add("e")
