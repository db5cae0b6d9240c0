"""Approval definitions → handlers: `BIZBUS_OA_HANDLERS` parsing and the claim decision."""

import pytest

from bizbus.connectors.base import Cursor
from bizbus.connectors.errors import ConfigError
from bizbus.connectors.feishu import parse_detail
from bizbus.connectors.feishu.handlers import claims_of, handler_of
from bizbus.connectors.feishu.settings import FeishuSettings
from bizbus.connectors.feishu.source import CatchUpOptions, catch_up_record
from tests.unit.test_connector_feishu_client import CODE, settings
from tests.unit.test_flows_travel import recorded_detail

PURCHASE = "PURCHASE-REQUEST-1"


def test_approval_codes_alone_are_trips_as_before() -> None:
    loaded = settings()
    assert loaded.handlers == {}
    assert loaded.claims() == {CODE: "travel"} and loaded.followed_codes() == [CODE]


def test_handlers_add_codes_and_name_their_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIZBUS_OA_HANDLERS", f'{{"{PURCHASE}": "travel"}}')
    loaded = settings()
    assert loaded.handlers == {PURCHASE: "travel"}
    assert loaded.claims() == {CODE: "travel", PURCHASE: "travel"}
    assert loaded.followed_codes() == [CODE, PURCHASE]
    monkeypatch.setenv("BIZBUS_OA_HANDLERS", " ")
    assert settings().handlers == {}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (f'{{"{PURCHASE}": "purchase"}}', f"approval code {PURCHASE} names no known handler "
                                          "'purchase': choose from conflict, discount, travel"),
        ('{"bad code!": "travel"}', "letters, digits and '-'"),
        (f'["{PURCHASE}"]', "is not a JSON object"),
        ("travel", "is not a JSON object"),
        (f'{{"{PURCHASE}": 3}}', "BIZBUS_OA_HANDLERS is invalid"),
    ],
)  # fmt: skip
def test_bad_handlers_stop_start_up_with_a_clear_message(value: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings(handlers=value)
    text = str(caught.value)
    assert text.startswith("BIZBUS_OA_HANDLERS is invalid") and message in text
    assert "app-secret-value" not in text


def test_a_handler_files_under_the_first_code_that_maps_to_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BIZBUS_OA_HANDLERS", f'{{"{PURCHASE}": "discount"}}')
    loaded = settings()
    assert loaded.code_of("discount") == PURCHASE
    assert loaded.code_of("travel") == CODE and loaded.code_of("conflict") is None


def test_the_handlers_setting_is_documented() -> None:
    description = FeishuSettings.model_fields["handlers"].description or ""
    assert "travel" in description and "ignored" in description


def test_the_claim_decision() -> None:
    claims = claims_of([CODE], {PURCHASE: "travel"})
    assert handler_of({"approval_code": CODE}, claims) == "travel"
    assert handler_of({"approval_code": "OTHER-1"}, claims) is None  # unclaimed: skipped
    assert handler_of({}, claims) is None
    # A record names its handler when captured; that wins over today's settings.
    assert handler_of({"approval_code": "OTHER-1", "handler": "travel"}, claims) == "travel"
    assert handler_of({"approval_code": CODE, "handler": "discount"}, claims) == "discount"
    assert claims_of([CODE], {CODE: "other"}) == {CODE: "other"}, "the handlers setting wins"


def test_catch_up_records_name_their_handler() -> None:
    detail = parse_detail(recorded_detail())
    cursor = Cursor(detail.updated_at, detail.instance_code)
    options = CatchUpOptions(approval_codes=[CODE], handlers={CODE: "travel"})
    handler = options.handlers.get(detail.approval_code)
    assert catch_up_record(detail, cursor, handler=handler or "none").payload["handler"] == "travel"
    assert catch_up_record(detail, cursor).payload["handler"] == "travel", "the default"
