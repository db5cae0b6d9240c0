"""`schemas.__all__` is the public API: complete, resolvable, and nothing of ours leaks in."""

import ast
import importlib
import pkgutil
import types
from pathlib import Path

import bizbus.schemas as schemas


def _public_names(module: types.ModuleType) -> set[str]:
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }


def test_all_lists_exactly_the_public_names_of_the_package() -> None:
    assert sorted(schemas.__all__) == sorted(set(schemas.__all__)), "duplicates in __all__"
    assert set(schemas.__all__) == _public_names(schemas)


def test_every_name_in_all_resolves() -> None:
    for name in schemas.__all__:
        assert getattr(schemas, name) is not None


def test_every_submodule_declares_an_all_that_resolves() -> None:
    for info in pkgutil.walk_packages(schemas.__path__, prefix="schemas."):
        module = importlib.import_module(info.name)
        assert module.__doc__, f"{info.name} has no module docstring"
        exported = getattr(module, "__all__", None)
        assert exported is not None, f"{info.name} has no __all__"
        missing = [name for name in exported if not hasattr(module, name)]
        assert not missing, f"{info.name}.__all__ names missing objects: {missing}"


def test_schemas_imports_nothing_of_ours_outside_schemas() -> None:
    root = Path(schemas.__file__).parent
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                assert top not in {"connectors", "flows", "deploy", "tests"}, f"{path}: {module}"


def test_every_module_stays_under_400_lines() -> None:
    root = Path(schemas.__file__).parent
    for path in root.rglob("*.py"):
        assert len(path.read_text(encoding="utf-8").splitlines()) < 400, path
