"""Import layering: flows → connectors → schemas, never the other way (parsed with `ast`)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = {"schemas", "connectors", "flows", "deploy", "tests"}


def imported_roots(package: str) -> dict[str, set[str]]:
    """Top-level module names imported by each file of `package`."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        roots: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative imports stay inside the package
                    roots.add(package)
                elif node.module:
                    roots.add(node.module.split(".")[0])
            elif isinstance(node, ast.Call) and _is_dynamic_import(node):
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    roots.add(arg.value.split(".")[0].split(":")[0])
        found[str(path.relative_to(ROOT))] = roots
    return found


def _is_dynamic_import(node: ast.Call) -> bool:
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name in {"import_module", "__import__"} and bool(node.args)


def test_the_scanner_sees_imports() -> None:
    files = imported_roots("connectors")
    assert "httpx" in files["connectors/httpbase.py"]


def test_schemas_imports_nothing_of_ours_but_schemas() -> None:
    bad = {f: r & (OURS - {"schemas"}) for f, r in imported_roots("schemas").items()}
    assert {f: r for f, r in bad.items() if r} == {}


@pytest.mark.parametrize("forbidden", ["faust", "aiokafka", "mode", "flows", "deploy", "tests"])
def test_connectors_never_import_kafka_or_flows(forbidden: str) -> None:
    offenders = [f for f, roots in imported_roots("connectors").items() if forbidden in roots]
    assert offenders == []
