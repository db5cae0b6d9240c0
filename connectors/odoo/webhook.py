"""Odoo's webhook notifications ("Send Webhook Notification" automation rules): token and body.

Odoo 17 posts `{"_action": "<action>(#<id>)", "_id": <record id>, "_model": "<model>", ...
selected fields}` as JSON after the write committed, once, without a signature and without
retries. The URL's last segment is the only proof of the sender, compared in constant time.
The body is a hint only: bizbus checks it names a model and a record id, keeps the model, and
reads the changed records through the API (a poll of that model's feed); the selected fields
are never trusted nor kept (they may hold personal data).
"""

import hmac
import re
from dataclasses import dataclass

import orjson
from pydantic import SecretStr

__all__ = ["OdooNotification", "parse_notification", "token_matches"]

_MODEL = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")
MAX_MODEL_CHARS = 128


@dataclass(frozen=True, slots=True)
class OdooNotification:
    """What a notification says: a record of `model` changed."""

    model: str
    record_id: int


def token_matches(given: str, secret: SecretStr | None) -> bool:
    """True when `given` is the configured token (never without one); constant time."""
    if secret is None:
        return False
    expected = secret.get_secret_value().encode()
    return bool(expected) and hmac.compare_digest(given.encode(), expected)


def parse_notification(body: bytes) -> OdooNotification:
    """Return the model and record id of an Odoo webhook body.

    Raises:
        ValueError: Not a JSON object with a model name in `_model` and a positive `_id`
            (the message names the problem, never a value).
    """
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ValueError("body is not JSON") from None
    if not isinstance(data, dict):
        raise ValueError("body is not a JSON object")
    model, record_id = data.get("_model"), data.get("_id")
    if not isinstance(model, str) or len(model) > MAX_MODEL_CHARS or not _MODEL.match(model):
        raise ValueError("_model is not an Odoo model name")
    if not isinstance(record_id, int) or isinstance(record_id, bool) or record_id <= 0:
        raise ValueError("_id is not a record id")
    return OdooNotification(model, record_id)
