"""The distribution installs one namespace, `bizbus`, with every package and its type marker."""

import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("schemas", "connectors", "flows", "deploy")


def _setuptools() -> dict[str, Any]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    table: dict[str, Any] = config["tool"]["setuptools"]
    return table


def test_every_folder_with_an_init_is_an_installed_package() -> None:
    folders = {
        ".".join(("bizbus", *path.parent.relative_to(ROOT).parts))
        for layer in LAYERS
        for path in (ROOT / layer).rglob("__init__.py")
    }
    assert sorted(folders) == sorted(_setuptools()["packages"])


def test_the_layers_map_to_the_bizbus_namespace_and_nothing_else() -> None:
    assert _setuptools()["package-dir"] == {f"bizbus.{layer}": layer for layer in LAYERS}
    assert all(str(name).startswith("bizbus.") for name in _setuptools()["packages"])


def test_each_layer_ships_a_py_typed_marker() -> None:
    assert all((ROOT / layer / "py.typed").is_file() for layer in LAYERS)
