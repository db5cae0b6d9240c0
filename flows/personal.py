"""The worker's key ring for personal data on Kafka (`BIZBUS_PII_*`), checked at start-up.

The runtime seals every tagged field it publishes with the active key and flows open what they
decode with the key a record names, so personal data is in clear only in a worker's memory and
in the systems it writes to. A worker refuses to start without a key: nothing falls back to
writing people's data in clear. `bizbus pii keygen` prints a fresh key; the demo, the tests and
the benchmarks generate a throwaway one per run (`throwaway_key`).
"""

import base64
import binascii
import json
import os
import re

from pydantic import Field, SecretStr, ValidationInfo, field_validator

from bizbus.connectors.errors import ConfigError
from bizbus.connectors.settings import BizbusSettings, load_settings
from bizbus.schemas import KeyRing

__all__ = ["PersonalDataSettings", "load_key_ring", "new_key", "throwaway_key"]

KEY_BYTES = 32
_KEY_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$"


def new_key() -> str:
    """Return a fresh AES-256 key as `BIZBUS_PII_KEYS` holds it (standard base64)."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode()


def _key_bytes(text: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("is not base64") from None
    if len(raw) != KEY_BYTES:
        raise ValueError(f"is not {KEY_BYTES} bytes (AES-256); `bizbus pii keygen` makes one")
    return raw


class PersonalDataSettings(BizbusSettings):
    """Keys sealing personal data on Kafka; rotate by adding a key and making it active."""

    pii_keys: dict[str, SecretStr] = Field(
        default_factory=dict,
        description='a JSON object of key id → base64 of 32 random bytes, e.g. {"2025-07": '
        '"..."}, printed by `bizbus pii keygen` (a worker refuses to start without one); keep '
        "a retired key while any topic, dead letters and compacted ones included, holds "
        "records it sealed",
    )
    pii_active_key: str | None = Field(
        default=None,
        validate_default=True,
        description="the id of the key that seals new records (empty: the only key)",
    )

    @field_validator("pii_keys")
    @classmethod
    def _valid_keys(cls, keys: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for key_id, key in keys.items():
            if not _matches(key_id):
                raise ValueError(f"key id {key_id!r} must match {_KEY_ID}")
            try:
                _key_bytes(key.get_secret_value())
            except ValueError as error:
                raise ValueError(f"key {key_id!r} {error}") from None
        return keys

    @field_validator("pii_active_key")
    @classmethod
    def _active_is_known(cls, active: str | None, info: ValidationInfo) -> str | None:
        keys = info.data.get("pii_keys") or {}
        if active is not None and active not in keys:
            raise ValueError(f"{active!r} is not a key id of BIZBUS_PII_KEYS")
        if active is None and len(keys) > 1:
            raise ValueError("it must name one of several BIZBUS_PII_KEYS")
        return active

    def key_ring(self) -> KeyRing:
        """Return the ring of these keys.

        Raises:
            ConfigError: No key is configured.
        """
        if not self.pii_keys:
            raise ConfigError(
                "BIZBUS_PII_KEYS is empty: personal data on Kafka is sealed and a worker needs "
                "a key; run `bizbus pii keygen` and set the two lines it prints"
            )
        active = self.pii_active_key or next(iter(self.pii_keys))
        raw = {key_id: _key_bytes(key.get_secret_value()) for key_id, key in self.pii_keys.items()}
        return KeyRing(raw, active)


def _matches(key_id: str) -> bool:
    return re.fullmatch(_KEY_ID, key_id) is not None


def load_key_ring() -> KeyRing:
    """Return the key ring the environment configures.

    Raises:
        ConfigError: A key is malformed, the active key is unknown, or no key is set.
    """
    return load_settings(PersonalDataSettings).key_ring()


def throwaway_key(key_id: str = "throwaway") -> tuple[KeyRing, dict[str, str]]:
    """Return a fresh key as a ring and as `BIZBUS_PII_*` settings, for a stack of one run.

    Every worker of the stack, restarts included, must get the same settings.
    """
    key = new_key()
    ring = KeyRing({key_id: _key_bytes(key)}, key_id)
    return ring, {"BIZBUS_PII_KEYS": json.dumps({key_id: key}), "BIZBUS_PII_ACTIVE_KEY": key_id}
