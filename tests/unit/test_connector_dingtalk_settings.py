"""BIZBUS_OA_DIALECT=dingtalk: a DingTalkConnector from BIZBUS_OA_*, reached through the seam.

Bad settings are named, never shown.
"""

import base64

import pytest

from bizbus.connectors.approvals import ApprovalConnector
from bizbus.connectors.dingtalk import DingTalkConnector
from bizbus.connectors.errors import ConfigError
from bizbus.connectors.registry import build_connector
from bizbus.flows.connections import Connections

AES_KEY = base64.b64encode(bytes(range(32))).decode().rstrip("=")


@pytest.fixture
def dingtalk_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name, value in {
        "DIALECT": "dingtalk", "APP_KEY": "dingapp", "APP_SECRET": "s3cr3t",
        "CALLBACK_TOKEN": "tok", "AES_KEY": AES_KEY, "PROCESS_CODES": "PROC-A, PROC-B",
    }.items():  # fmt: skip
        monkeypatch.setenv(f"BIZBUS_OA_{name}", value)
    return monkeypatch


async def test_flows_get_the_dingtalk_connector_through_the_seam(
    dingtalk_env: pytest.MonkeyPatch,
) -> None:
    connections = Connections()
    oa = await connections.oa()
    assert isinstance(oa, DingTalkConnector) and isinstance(oa, ApprovalConnector)
    assert oa.settings.process_codes == ["PROC-A", "PROC-B"]
    assert oa.settings.claims() == {"PROC-A": "travel", "PROC-B": "travel"}
    assert oa.dialect == "dingtalk" and oa.stream_safety_poll_s() is None
    await connections.close()


def test_stream_mode_keeps_a_safety_poll(dingtalk_env: pytest.MonkeyPatch) -> None:
    dingtalk_env.setenv("BIZBUS_OA_MODE", "stream")
    dingtalk_env.setenv("BIZBUS_OA_STREAM_SAFETY_POLL_S", "120")
    connector = build_connector("oa")
    assert isinstance(connector, DingTalkConnector)
    assert connector.stream_safety_poll_s() == 120.0


@pytest.mark.parametrize(
    ("name", "value"),
    [("AES_KEY", "too-short-secret"), ("PROCESS_CODES", "PROC A"), ("HANDLERS", '{"P": "x"}'),
     ("MODE", "websocket")],
)  # fmt: skip
def test_a_bad_setting_is_named_without_its_value(
    dingtalk_env: pytest.MonkeyPatch, name: str, value: str
) -> None:
    dingtalk_env.setenv(f"BIZBUS_OA_{name}", value)
    with pytest.raises(ConfigError, match=f"BIZBUS_OA_{name}") as caught:
        build_connector("oa")
    assert "too-short-secret" not in str(caught.value)
