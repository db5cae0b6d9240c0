"""Inbound webhook verification on raw bytes: Feishu/Lark event callbacks.

Constant-time compares, our own ±300 s window, a bounded replay/dedupe cache, and two
active secrets during rotation. Feishu bodies are AES-256-CBC encrypted with sha256(Encrypt Key).
"""

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson
from cachetools import TTLCache
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from pydantic import SecretStr

from bizbus.connectors.errors import ConfigError, RejectedError

__all__ = [
    "FeishuEventVerifier",
    "ReplayCache",
    "ReplayStore",
    "VerifiedWebhook",
    "decrypt_feishu",
]


class ReplayStore(Protocol):
    """Remembers ids already accepted (a faust table can stand in for the in-memory cache)."""

    def check_and_add(self, key: str) -> bool:
        """Remember ``key``; True if it was new, False if already seen and not expired."""
        ...

    def discard(self, key: str) -> None:
        """Forget ``key`` (its delivery failed downstream and the sender will retry)."""
        ...


class ReplayCache:
    """In-memory replay store with a TTL and a hard size bound (oldest entries go first).

    An id is remembered ``ttl`` seconds from when it was first seen; seeing it again does not
    extend that, so a sender retrying forever is let through once per ``ttl``.

    Args:
        ttl: Seconds an id is remembered; keep it above the sender's retry horizon.
        max_entries: Upper bound of remembered ids.
        clock: Monotonic clock (injectable for tests).
    """

    def __init__(
        self,
        ttl: float = 86_400.0,
        *,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        # Only membership is asked (never a read that refreshes recency), so when full the
        # cache drops the id seen longest ago.
        self._seen: TTLCache[str, bool] = TTLCache(max_entries, ttl, timer=clock)

    def __len__(self) -> int:
        self._seen.expire()
        return len(self._seen)

    def check_and_add(self, key: str) -> bool:
        """Remember ``key``; True if it was new."""
        if key in self._seen:
            return False
        self._seen[key] = True
        return True

    def discard(self, key: str) -> None:
        """Forget ``key``."""
        self._seen.pop(key, None)


@dataclass(frozen=True, slots=True)
class VerifiedWebhook:
    """A webhook whose origin and freshness were proven.

    Attributes:
        event_id: The sender's event id (dedupe key), if it has one.
        event_type: The sender's event type, if it says.
        sent_at: The signed timestamp.
        payload: The decoded (and decrypted) JSON body.
        challenge: For a Feishu URL verification: answer ``{"challenge": challenge}``.
        duplicate: Already accepted before: answer 2xx and drop it.
        keys: The replay keys (nonce, event id) this callback took in the store; release them
            when it could not be handed on, so that the sender's retry is not a duplicate.
    """

    event_id: str | None
    event_type: str | None
    sent_at: datetime | None
    payload: dict[str, Any]
    challenge: str | None = None
    duplicate: bool = False
    keys: tuple[str, ...] = ()


def _reject(system: str, reason: str, status: int = 401) -> RejectedError:
    return RejectedError(f"{system}: webhook rejected: {reason}", system=system, status_code=status)


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def _check_window(system: str, stamp: str, *, now: float, tolerance: float) -> datetime:
    try:
        seconds = int(stamp)
    except ValueError:
        raise _reject(system, "timestamp is not an integer", 400) from None
    if abs(now - seconds) > tolerance:
        raise _reject(system, f"timestamp outside the ±{tolerance:.0f} s window")
    return datetime.fromtimestamp(seconds, UTC)


def _json_object(system: str, raw: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise _reject(system, "body is not JSON", 400) from None
    if not isinstance(value, dict):
        raise _reject(system, "body is not a JSON object", 400)
    return value


def _need(system: str, secrets: Sequence[SecretStr], what: str) -> list[str]:
    values = [s.get_secret_value() for s in secrets if s.get_secret_value()]
    if not values:
        raise ConfigError(f"{system}: no {what} configured")
    if len(values) > 2:
        raise ConfigError(f"{system}: at most two active {what}s (current and next)")
    return values


def decrypt_feishu(encrypt: str, encrypt_key: str) -> bytes:
    """Decrypt a Feishu ``encrypt`` field: AES-256-CBC, key sha256(Encrypt Key), IV first 16 B.

    Raises:
        ValueError: Not base64, wrong length, or bad PKCS7 padding (e.g. a wrong key).
    """
    data = base64.b64decode(encrypt, validate=True)
    if len(data) < 32 or len(data) % 16:
        raise ValueError("invalid ciphertext length")
    key = hashlib.sha256(encrypt_key.encode()).digest()
    decryptor = Cipher(algorithms.AES(key), modes.CBC(data[:16])).decryptor()
    padded = decryptor.update(data[16:]) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


class FeishuEventVerifier:
    """Feishu/Lark event callbacks (schema 1.0 and 2.0) with Encrypt Key and Verification Token.

    ``X-Lark-Signature`` = sha256(timestamp + nonce + encrypt_key + raw body), hex. The URL
    verification request is unsigned: it is accepted only if it decrypts and its token matches.

    Args:
        encrypt_keys: One or two Encrypt Keys (two while rotating).
        verification_tokens: Verification Tokens checked against the event's ``token``.
        tolerance: Allowed clock difference in seconds.
        replay: Store for nonces and event ids; a private ``ReplayCache`` by default.
        clock: Wall clock in epoch seconds (injectable for tests).
    """

    system = "feishu"

    def __init__(
        self,
        encrypt_keys: Sequence[SecretStr],
        *,
        verification_tokens: Sequence[SecretStr],
        tolerance: float = 300.0,
        replay: ReplayStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = _need(self.system, encrypt_keys, "Encrypt Key")
        self._tokens = [t.encode() for t in _need(self.system, verification_tokens, "token")]
        self.tolerance = tolerance
        self.replay: ReplayStore = replay if replay is not None else ReplayCache()
        self._clock = clock

    def check_signed(self, headers: Mapping[str, str], body: bytes) -> None:
        """Refuse a signed callback that is stale or badly signed, touching nothing else.

        Cheap and free of I/O, so a flood of forged requests costs no replay-store read.
        Unsigned bodies pass here: `verify` answers them (URL verification) or refuses them.

        Raises:
            RejectedError: Outside the time window, or no key gives its signature.
        """
        h = _lower(headers)
        signature = h.get("x-lark-signature")
        if signature is None:
            return
        stamp = h.get("x-lark-request-timestamp", "")
        nonce = h.get("x-lark-request-nonce", "")
        _check_window(self.system, stamp, now=self._clock(), tolerance=self.tolerance)
        if not any(self._signed(k, stamp, nonce, body, signature) for k in self._keys):
            raise _reject(self.system, "signature does not match")

    def verify(self, headers: Mapping[str, str], body: bytes) -> VerifiedWebhook:
        """Verify, decrypt and decode one callback (or answer a URL verification).

        Raises:
            RejectedError: Unencrypted, unsigned, badly signed, stale or wrong-token callbacks.
        """
        h = _lower(headers)
        signature = h.get("x-lark-signature")
        if signature is None:
            return self._url_verification(self._encrypted(body))
        # Window and signature on the raw bytes first: an unsigned body is never parsed.
        stamp = h.get("x-lark-request-timestamp", "")
        nonce = h.get("x-lark-request-nonce", "")
        sent_at = _check_window(self.system, stamp, now=self._clock(), tolerance=self.tolerance)
        key = next((k for k in self._keys if self._signed(k, stamp, nonce, body, signature)), None)
        if key is None:
            raise _reject(self.system, "signature does not match")
        payload = self._decrypt(self._encrypted(body), [key])
        self._check_token(payload)
        header = payload.get("header")
        if isinstance(header, dict):  # schema 2.0
            event_id, event_type = header.get("event_id"), header.get("event_type")
        else:  # schema 1.0
            event = payload.get("event")
            event_id = payload.get("uuid")
            event_type = event.get("type") if isinstance(event, dict) else None
        event_id = event_id if isinstance(event_id, str) and event_id else None
        keys = [f"nonce:{stamp}:{nonce}", *([f"id:{event_id}"] if event_id else [])]
        fresh = [key for key in keys if self.replay.check_and_add(key)]
        return VerifiedWebhook(
            event_id=event_id,
            event_type=event_type if isinstance(event_type, str) else None,
            sent_at=sent_at,
            payload=payload,
            duplicate=len(fresh) < len(keys),
            keys=tuple(fresh),
        )

    def _encrypted(self, body: bytes) -> str:
        encrypted = _json_object(self.system, body).get("encrypt")
        if not isinstance(encrypted, str) or not encrypted:
            raise _reject(self.system, "body is not encrypted; set an Encrypt Key for the app")
        return encrypted

    @staticmethod
    def _signed(key: str, stamp: str, nonce: str, body: bytes, signature: str) -> bool:
        digest = hashlib.sha256((stamp + nonce + key).encode() + body).hexdigest()
        return hmac.compare_digest(digest.encode(), signature.encode())

    def _decrypt(self, encrypted: str, keys: Sequence[str]) -> dict[str, Any]:
        for key in keys:
            try:
                plain = decrypt_feishu(encrypted, key)
            except ValueError:
                continue
            try:
                return _json_object(self.system, plain)
            except RejectedError:
                continue
        raise _reject(self.system, "body does not decrypt with the Encrypt Key", 400)

    def _check_token(self, payload: dict[str, Any]) -> None:
        header = payload.get("header")
        token = header.get("token") if isinstance(header, dict) else payload.get("token")
        if not isinstance(token, str) or not any(
            hmac.compare_digest(token.encode(), t) for t in self._tokens
        ):
            raise _reject(self.system, "verification token does not match")

    def _url_verification(self, encrypted: str) -> VerifiedWebhook:
        payload = self._decrypt(encrypted, self._keys)
        challenge = payload.get("challenge")
        if payload.get("type") != "url_verification" or not isinstance(challenge, str):
            raise _reject(self.system, "signature header missing")
        self._check_token(payload)
        return VerifiedWebhook(
            event_id=None,
            event_type="url_verification",
            sent_at=None,
            payload=payload,
            challenge=challenge,
        )
