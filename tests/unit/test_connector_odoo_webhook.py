"""Odoo webhook notifications: the URL token, the body, and the push settings."""

import orjson
import pytest
from pydantic import SecretStr

from bizbus.connectors.errors import ConfigError
from bizbus.connectors.odoo import OdooSettings
from bizbus.connectors.odoo.webhook import OdooNotification, parse_notification, token_matches
from bizbus.connectors.settings import load_settings

TOKEN = "t0ken-of-at-least-24-chars_x"  # noqa: S105 - a test token
BASE = {"base_url": "http://odoo", "db": "bizbus", "login": "bizbus", "api_key": "k"}


def test_odoos_own_body_gives_model_and_id() -> None:
    body = orjson.dumps(
        {"_action": "Notify bizbus(#7)", "_id": 42, "_model": "sale.order", "name": "S00042"},
        option=orjson.OPT_SORT_KEYS,
    )
    assert parse_notification(body) == OdooNotification("sale.order", 42)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"_id": 1}', "_model"),
        (b'{"_model": "Sale Order", "_id": 1}', "_model"),
        (b'{"_model": "sale.order;drop", "_id": 1}', "_model"),
        (b'{"_model": "' + b"a" * 200 + b'", "_id": 1}', "_model"),
        (b'{"_model": "sale.order"}', "_id"),
        (b'{"_model": "sale.order", "_id": "1"}', "_id"),
        (b'{"_model": "sale.order", "_id": true}', "_id"),
        (b'{"_model": "sale.order", "_id": 0}', "_id"),
    ],
)
def test_malformed_bodies_are_refused_without_their_values(body: bytes, problem: str) -> None:
    with pytest.raises(ValueError, match=problem) as caught:
        parse_notification(body)
    assert "drop" not in str(caught.value) and "Sale Order" not in str(caught.value)


def test_token_compare() -> None:
    assert token_matches(TOKEN, SecretStr(TOKEN))
    assert not token_matches(TOKEN + "x", SecretStr(TOKEN))
    assert not token_matches("", SecretStr(TOKEN))
    assert not token_matches(TOKEN, None)
    assert not token_matches("", SecretStr(""))


def test_push_mode_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BIZBUS_ERP_MODE", "BIZBUS_ERP_WEBHOOK_TOKEN", "BIZBUS_ERP_PUSH_SAFETY_POLL_S"):
        monkeypatch.delenv(name, raising=False)
    polled = load_settings(OdooSettings, **BASE)
    assert polled.resolved_mode() == "poll" and polled.push_safety_poll_s == 600.0
    assert polled.webhook_token is None
    pushed = load_settings(OdooSettings, **BASE, mode="push", webhook_token=TOKEN)
    assert pushed.webhook_token is not None and pushed.webhook_token.get_secret_value() == TOKEN
    offered = load_settings(OdooSettings, **BASE, webhook_token=TOKEN)
    assert offered.resolved_mode() == "push", "push by default once Odoo has a URL to post to"
    chosen = load_settings(OdooSettings, **BASE, mode="poll", webhook_token=TOKEN)
    assert chosen.resolved_mode() == "poll"
    with pytest.raises(ConfigError, match="BIZBUS_ERP_WEBHOOK_TOKEN is missing"):
        load_settings(OdooSettings, **BASE, mode="push")
    with pytest.raises(ConfigError, match="BIZBUS_ERP_WEBHOOK_TOKEN") as caught:
        load_settings(OdooSettings, **BASE, mode="push", webhook_token="short")  # noqa: S106
    assert "short" not in str(caught.value)
