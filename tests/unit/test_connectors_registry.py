"""The registry is the wiring: one line per dialect, a chosen dialect per role, typed access."""

from types import MappingProxyType
from typing import Self

import pytest
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from bizbus.connectors import registry
from bizbus.connectors.errors import ConfigError
from bizbus.connectors.feishu import FeishuConnector
from bizbus.connectors.registry import DIALECTS, Dialect, DialectSettings, build_connector
from bizbus.connectors.settings import BizbusSettings, load_settings
from bizbus.flows.connections import Connections


class WeComSettings(BizbusSettings):
    """A third OA dialect's settings, as a real one would declare them."""

    model_config = SettingsConfigDict(env_prefix="BIZBUS_OA_")

    corp_id: str = Field(description="the WeCom corp id")


class WeComConnector:
    """Just enough of a connector: built from its settings, opened and closed."""

    def __init__(self, settings: WeComSettings, **overrides: object) -> None:
        self.settings = settings
        self.opened = 0
        self.closed = 0

    async def __aenter__(self) -> Self:
        self.opened += 1
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.closed += 1

    async def ping(self) -> None:
        """Every connector can be probed."""


HERE = __name__


@pytest.fixture
def with_wecom(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register a WeCom OA dialect: one registry line, nothing else."""
    line = Dialect("wecom", "oa", "WeCom approvals",
                   f"{HERE}:WeComConnector", f"{HERE}:WeComSettings")  # fmt: skip
    monkeypatch.setattr(registry, "DIALECTS", MappingProxyType({**DIALECTS, "wecom": line}))


def test_each_role_defaults_to_its_first_dialect() -> None:
    choice = DialectSettings()
    assert [choice.dialect(role).name for role in ("crm", "erp", "oa")] == [
        "salesforce",
        "odoo",
        "feishu",
    ]


def test_unknown_dialect_is_a_config_error_naming_the_variable_and_the_choices(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BIZBUS_OA_DIALECT", "wecom")
    with pytest.raises(
        ConfigError, match=r"BIZBUS_OA_DIALECT is invalid.*\['dingtalk', 'feishu'\]"
    ):
        load_settings(DialectSettings)


def test_a_dialect_of_another_role_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIZBUS_CRM_DIALECT", "odoo")
    with pytest.raises(ConfigError, match=r"BIZBUS_CRM_DIALECT.*not a registered crm dialect"):
        Connections()


@pytest.mark.usefixtures("with_wecom")
async def test_a_new_dialect_is_one_registry_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIZBUS_OA_DIALECT", "wecom")
    monkeypatch.setenv("BIZBUS_OA_CORP_ID", "wecom-corp")
    connections = Connections()
    oa = await connections.get("oa", WeComConnector)
    assert oa.settings.corp_id == "wecom-corp" and oa.opened == 1
    assert await connections.get("oa") is oa  # opened once, shared
    await connections.close()
    assert oa.closed == 1


@pytest.mark.usefixtures("with_wecom")
async def test_a_flow_needing_another_dialect_gets_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BIZBUS_OA_DIALECT", "wecom")
    monkeypatch.setenv("BIZBUS_OA_CORP_ID", "wecom-corp")
    connections = Connections()
    with pytest.raises(ConfigError, match=r"needs a ApprovalConnector.*BIZBUS_OA_DIALECT=wecom"):
        await connections.oa()
    await connections.close()


@pytest.mark.usefixtures("with_wecom")
def test_missing_dialect_settings_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIZBUS_OA_DIALECT", "wecom")
    monkeypatch.delenv("BIZBUS_OA_CORP_ID", raising=False)
    with pytest.raises(ConfigError, match="BIZBUS_OA_CORP_ID is missing: set it to the WeCom"):
        build_connector("oa")


async def test_the_default_oa_dialect_is_built_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {
        "APP_ID": "cli_test",
        "APP_SECRET": "s3cr3t",
        "ENCRYPT_KEY": "k" * 16,
        "VERIFICATION_TOKEN": "v" * 16,
        "APPROVAL_CODES": "CODE-1",
    }.items():
        monkeypatch.setenv(f"BIZBUS_OA_{name}", value)
    connections = Connections()
    oa = await connections.oa()
    assert isinstance(oa, FeishuConnector) and oa.settings.approval_codes == ["CODE-1"]
    await connections.close()
