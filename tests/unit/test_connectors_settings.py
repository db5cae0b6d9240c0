"""Settings: environment prefixes, start-up validation messages, no secrets in errors."""

import httpx
import pytest
from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from bizbus.connectors.errors import ConfigError
from bizbus.connectors.settings import ConnectorSettings, load_settings


class CrmSettings(ConnectorSettings):
    model_config = SettingsConfigDict(env_prefix="BIZBUS_CRM_")

    client_id: str = Field(description="the connected app's consumer key")
    client_secret: SecretStr = Field(description="the connected app's consumer secret")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("BIZBUS_"):
            monkeypatch.delenv(name)


def test_missing_setting_names_the_variable_and_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIZBUS_CRM_BASE_URL", "https://acme.my.salesforce.com")
    monkeypatch.setenv("BIZBUS_CRM_CLIENT_ID", "3MVG9")
    with pytest.raises(ConfigError) as caught:
        load_settings(CrmSettings)
    assert str(caught.value) == (
        "BIZBUS_CRM_CLIENT_SECRET is missing: set it to the connected app's consumer secret"
    )
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_invalid_setting_is_named_without_its_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIZBUS_CRM_BASE_URL", "https://acme.my.salesforce.com")
    monkeypatch.setenv("BIZBUS_CRM_CLIENT_ID", "3MVG9")
    monkeypatch.setenv("BIZBUS_CRM_CLIENT_SECRET", "s3cr3t-value")
    monkeypatch.setenv("BIZBUS_CRM_TIMEOUT_S", "s3cr3t-value")
    with pytest.raises(ConfigError) as caught:
        load_settings(CrmSettings)
    text = str(caught.value)
    assert text.startswith("BIZBUS_CRM_TIMEOUT_S is invalid (")
    assert "s3cr3t" not in text


def test_all_bad_settings_are_reported_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(CrmSettings)
    text = str(caught.value)
    for name in ("BASE_URL", "CLIENT_ID", "CLIENT_SECRET"):
        assert f"BIZBUS_CRM_{name} is missing" in text


def test_settings_build_explicit_http_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIZBUS_CRM_BASE_URL", "https://crm.example.test")
    monkeypatch.setenv("BIZBUS_CRM_TIMEOUT_S", "3")
    monkeypatch.setenv("BIZBUS_CRM_RATE_PER_S", "50")
    monkeypatch.setenv("BIZBUS_CRM_CLIENT_ID", "3MVG9")
    monkeypatch.setenv("BIZBUS_CRM_CLIENT_SECRET", "t0k3n-value")
    settings = load_settings(CrmSettings)
    options = settings.http_options()
    assert options["timeout"] == httpx.Timeout(3.0, connect=5.0, pool=3.0)
    assert options["retry"].attempts == 4
    assert options["budget"].rate == 50
    assert "t0k3n" not in repr(settings)
