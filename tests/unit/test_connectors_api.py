"""The public API of `connectors`: `__all__` is accurate and the registry resolves."""

import importlib
import inspect

import pytest

import bizbus.connectors as connectors
from bizbus.connectors.registry import DIALECTS, ROLES

REEXPORTED = ["auth", "base", "errors", "httpbase", "quota", "registry", "retry", "settings"]
REEXPORTED += ["status"]
REEXPORTED += ["webhooks"]


def test_all_lists_exactly_the_public_names_of_the_shared_modules() -> None:
    expected: set[str] = set()
    for name in REEXPORTED:
        module = importlib.import_module(f"connectors.{name}")
        expected.update(module.__all__)
    assert set(connectors.__all__) == expected
    assert len(connectors.__all__) == len(set(connectors.__all__))


def test_every_name_in_all_resolves() -> None:
    for name in connectors.__all__:
        assert getattr(connectors, name) is not None


@pytest.mark.parametrize("module_name", REEXPORTED)
def test_module_all_names_are_defined_there(module_name: str) -> None:
    module = importlib.import_module(f"connectors.{module_name}")
    for name in module.__all__:
        value = getattr(module, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert value.__module__ == module.__name__, name


def test_error_tree_matches_the_docstring() -> None:
    from bizbus.connectors import errors as e

    assert issubclass(e.RateLimited, e.TransientError)
    assert issubclass(e.TransientError, e.ConnectorError)
    for leaf in (e.AuthError, e.RejectedError):
        assert leaf.__bases__ == (e.ConnectorError,)
    for branch in (e.ConfigError, e.ConnectorError, e.SchemaError, e.MappingError):
        assert issubclass(branch, e.IntegrationError)
    retriable = {
        cls.__name__
        for cls in vars(e).values()
        if inspect.isclass(cls) and getattr(cls, "retriable", False)
    }
    assert retriable == {"TransientError", "RateLimited"}
    for name in e.__all__:
        assert name in (e.__doc__ or "")


def test_schema_error_is_also_the_schemas_one() -> None:
    from bizbus.connectors.errors import IntegrationError, SchemaError
    from bizbus.schemas.errors import SchemaError as ContractError

    error = SchemaError("payload does not validate", event_type="bizbus.x.y.z.v1", field="data.id")
    assert isinstance(error, IntegrationError) and isinstance(error, ContractError)
    assert not error.retriable
    assert error.field == "data.id"
    assert "data.id" in str(error)


def test_registry_imports_every_dialect_lazily_and_each_role_has_one() -> None:
    for dialect in DIALECTS.values():
        assert inspect.isclass(dialect.connector_class())
        assert inspect.isclass(dialect.settings_class())
    assert {dialect.role for dialect in DIALECTS.values()} == set(ROLES)
