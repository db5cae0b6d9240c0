"""BIZBUS_TABLE_STORE: which faust store the worker's tables use, refused clearly when unusable."""

import importlib.util
from importlib.machinery import ModuleSpec

import pytest
from pydantic import ValidationError

from bizbus.connectors.errors import ConfigError
from bizbus.flows.runtime.table_store import store_url
from bizbus.flows.settings import RuntimeSettings


def test_memory_is_the_default() -> None:
    assert store_url(RuntimeSettings()) == "memory://"


def test_rocksdb_uses_faust_s_rocksdb_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIZBUS_TABLE_STORE", "rocksdb")
    assert store_url(RuntimeSettings()) == "rocksdb://"


def test_rocksdb_without_rocksdict_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def without_rocksdict(name: str, package: str | None = None) -> ModuleSpec | None:
        return None if name == "rocksdict" else real(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", without_rocksdict)
    with pytest.raises(ConfigError, match=r"bizbus\[rocksdb\]"):
        store_url(RuntimeSettings(table_store="rocksdb"))


def test_an_unknown_store_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIZBUS_TABLE_STORE", "redis")
    with pytest.raises(ValidationError, match="table_store"):
        RuntimeSettings()
