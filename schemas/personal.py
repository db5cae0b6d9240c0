"""Personal data in events: fields tagged in the contract, sealed field by field on Kafka.

A payload field that holds data about a person (a name, a phone number, an e-mail address, a
source system's raw record) carries `x-personal-data: true` in its JSON Schema
(`Field(json_schema_extra=PERSONAL)`). `encode_record` with a `KeyRing` replaces each such
value by `pii:v1:<base64url(nonce + AES-256-GCM(JSON of the value))>`, bound to the event id
and the field's path, and names the key in the `ce_piikeyid` header; `decode_record` opens them
with the key the record names (keys rotate: old ones stay in the ring to read old records).
The JSON Schemas describe the opened value, as with Confluent's field-level encryption; the
header says whether a record's tagged fields are sealed. `mask_record` shows a record with every
tagged field masked, sealed or not, for people (dead letters, logs).
"""

import base64
import os
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bizbus.schemas.errors import SchemaError
from bizbus.schemas.registry import EVENT_TYPES
from bizbus.schemas.values import PERSONAL, PERSONAL_DATA

__all__ = [
    "KEY_ID_HEADER",
    "MASK",
    "PERSONAL",
    "PERSONAL_DATA",
    "SEALED_PREFIX",
    "KeyRing",
    "mask_data",
    "open_data",
    "personal_paths",
    "seal_data",
]

KEY_ID_HEADER = "ce_piikeyid"
"""CloudEvents extension `piikeyid`: the key that sealed the record's personal fields."""
SEALED_PREFIX = "pii:v1:"
MASK = "<personal data>"
_NONCE = 12
_KEY_BYTES = 32

Path = tuple[str, ...]
"""Property names from the payload down to a tagged field; `*` steps into every array item."""


class KeyRing:
    """AES-256-GCM keys by id: the active one seals, any one opens what it sealed.

    Args:
        keys: Key id → 32 random bytes.
        active: The id of the key that seals new records.

    Raises:
        ValueError: A key is not 32 bytes, an id is empty, or `active` is not in `keys`.
    """

    def __init__(self, keys: Mapping[str, bytes], active: str) -> None:
        if active not in keys:
            raise ValueError(f"the active key {active!r} is not among the keys {sorted(keys)}")
        for key_id, key in keys.items():
            if not key_id or len(key) != _KEY_BYTES:
                raise ValueError(f"key {key_id!r} must be {_KEY_BYTES} bytes (AES-256)")
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self.active = active

    @classmethod
    def generate(cls, key_id: str = "k1") -> "KeyRing":
        """Return a ring of one fresh random key (tests, a demo's throwaway stack)."""
        return cls({key_id: os.urandom(_KEY_BYTES)}, key_id)

    @property
    def key_ids(self) -> frozenset[str]:
        """Return the ids of every key in the ring."""
        return frozenset(self._ciphers)

    def seal(self, value: Any, context: str) -> str:
        """Return `value` (JSON) sealed with the active key; `context` must match to open it."""
        nonce = os.urandom(_NONCE)
        sealed = self._ciphers[self.active].encrypt(nonce, orjson.dumps(value), context.encode())
        return SEALED_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, key_id: str, sealed: str, context: str) -> Any:
        """Return the JSON value `seal` sealed with key `key_id` under `context`.

        Raises:
            SchemaError: Unknown key id, or the value is not one this key sealed here (never
                says what it holds).
        """
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise SchemaError(f"personal data sealed with unknown key {key_id!r}")
        try:
            raw = base64.urlsafe_b64decode(sealed.removeprefix(SEALED_PREFIX))
            return orjson.loads(cipher.decrypt(raw[:_NONCE], raw[_NONCE:], context.encode()))
        except (InvalidTag, ValueError, orjson.JSONDecodeError):
            raise SchemaError(f"personal data does not open with key {key_id!r}") from None


def _tagged(schema: Mapping[str, Any], defs: Mapping[str, Any], trail: Path) -> list[Path]:
    """Return the paths below `schema` to fields tagged personal (following refs, unions)."""
    if schema.get(PERSONAL_DATA) is True:
        return [trail]
    if "$ref" in schema:
        return _tagged(defs[str(schema["$ref"]).rsplit("/", 1)[-1]], defs, trail)
    found: list[Path] = []
    for branch in schema.get("anyOf", ()):
        found += [path for path in _tagged(branch, defs, trail) if path not in found]
    if isinstance(schema.get("items"), Mapping):
        found += _tagged(schema["items"], defs, (*trail, "*"))
    for name, sub in schema.get("properties", {}).items():
        found += _tagged(sub, defs, (*trail, name))
    return found


@cache
def personal_paths(event_type: str) -> tuple[Path, ...]:
    """Return the paths of an event type's personal fields, from its JSON Schema."""
    model = EVENT_TYPES.get(event_type)
    if model is None:
        return ()
    schema = model.model_json_schema(mode="validation")
    return tuple(_tagged(schema, schema.get("$defs", {}), ()))


Change = Callable[[Any, str], Any]


def _apply(node: Any, path: Path, change: Change, trail: str) -> Any:
    if not path:
        return node if node is None else change(node, trail)
    head, rest = path[0], path[1:]
    if head == "*":
        if isinstance(node, list):
            return [_apply(item, rest, change, f"{trail}/{i}") for i, item in enumerate(node)]
        return node
    if isinstance(node, dict) and head in node:
        node[head] = _apply(node[head], rest, change, f"{trail}/{head}")
    return node


def _each(data: Any, event_type: str, change: Change) -> Any:
    for path in personal_paths(event_type):
        data = _apply(data, path, change, "")
    return data


def seal_data(data: Any, event_type: str, *, event_id: str, keys: KeyRing) -> Any:
    """Return `data` (a payload's JSON, changed in place) with its personal fields sealed."""
    return _each(data, event_type, lambda value, trail: keys.seal(value, event_id + trail))


def open_data(data: Any, event_type: str, *, event_id: str, key_id: str, keys: KeyRing) -> Any:
    """Return `data` with every sealed personal field opened (`key_id` sealed them).

    Raises:
        SchemaError: A field does not open (unknown key, tampered, another record's value).
    """

    def unseal(value: Any, trail: str) -> Any:
        if isinstance(value, str) and value.startswith(SEALED_PREFIX):
            return keys.open(key_id, value, event_id + trail)
        return value

    return _each(data, event_type, unseal)


def mask_data(data: Any, event_type: str) -> Any:
    """Return `data` with every personal field, sealed or in clear, replaced by `MASK`."""
    return _each(data, event_type, lambda _value, _trail: MASK)
