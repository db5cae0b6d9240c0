"""Field ownership settings: defaults, JSON overrides from the environment, refusals."""

import json

import pytest

from bizbus.connectors.errors import ConfigError
from bizbus.flows.catalog.ownership import DEFAULT_OWNERSHIP, CatalogSettings, load_catalog_settings


def test_defaults_give_the_erp_model_and_price_and_the_crm_the_marketing_text() -> None:
    settings = CatalogSettings()
    assert settings.conflict_policy == "owner-wins"
    assert {name for name, rule in settings.ownership.items() if rule.owner == "crm"} == {
        "description"
    }
    assert settings.owner("list_price") == "erp"
    assert set(settings.fields_of("PricebookEntry")) == {"list_price"}
    assert settings.ownership["description"].erp == "description_sale"


def test_ownership_and_policy_are_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rules = {name: rule.model_dump() for name, rule in DEFAULT_OWNERSHIP.items()}
    rules["description"]["erp"] = "description"
    del rules["active"]
    monkeypatch.setenv("BIZBUS_CATALOG_OWNERSHIP", json.dumps(rules))
    monkeypatch.setenv("BIZBUS_CATALOG_CONFLICT_POLICY", "last-writer-wins")
    settings = load_catalog_settings()
    assert settings.conflict_policy == "last-writer-wins"
    assert settings.ownership["description"].erp == "description"
    assert "active" not in settings.ownership


def test_an_owner_no_command_can_carry_from_is_refused_at_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rules = {name: rule.model_dump() for name, rule in DEFAULT_OWNERSHIP.items()}
    rules["list_price"]["owner"] = "crm"
    monkeypatch.setenv("BIZBUS_CATALOG_OWNERSHIP", json.dumps(rules))
    refused = r"BIZBUS_CATALOG_OWNERSHIP.*'list_price' cannot be owned"
    with pytest.raises(ConfigError, match=refused):
        load_catalog_settings()


def test_an_unknown_policy_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIZBUS_CATALOG_CONFLICT_POLICY", "crm-wins")
    with pytest.raises(ConfigError, match="BIZBUS_CATALOG_CONFLICT_POLICY"):
        load_catalog_settings()
