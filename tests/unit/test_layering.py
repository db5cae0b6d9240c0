"""Import layering, parsed with `ast`: deploy → flows → connectors → schemas, one way, no cycles.

Every import counts: module level, inside functions, under TYPE_CHECKING, and dynamic
`import_module("…")` strings. A flow imports no other flow; the folders are imported only as
`bizbus.*`, never by their bare names.
"""

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("schemas", "connectors", "flows", "deploy")  # lowest first
BARE = {*LAYERS}
# Modules of bizbus.flows that belong to no single flow: the runtime and what flows share. Every
# other `bizbus.flows.<name>` is one flow's package (`bizbus.flows.orders.mapping` is `orders`).
FLOW_COMMONS = ("runtime", "shared", "app", "worker", "settings", "context", "connections", "xref")


def modules() -> dict[str, Path]:
    """Return every module of the four layers by its installed name (`bizbus.flows.orders`)."""
    found = {}
    for layer in LAYERS:
        for path in sorted((ROOT / layer).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(("bizbus", *parts))] = path
    return found


def imported_names(path: Path, module: str) -> set[str]:
    """Return the module names `path` imports, resolved to full dotted names."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and _is_dynamic_import(node):
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                names.add(arg.value.split(":")[0])
    return names


def _is_dynamic_import(node: ast.Call) -> bool:
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name in {"import_module", "__import__"} and bool(node.args)


def graph() -> dict[str, set[str]]:
    """Return module → the modules of ours it imports (names not modules, e.g. classes, drop)."""
    known = modules()
    return {
        module: {name for name in imported_names(path, module) if name in known} - {module}
        for module, path in known.items()
    }


def layer_of(module: str) -> int:
    return LAYERS.index(module.split(".")[1])


def flow_of(module: str) -> str | None:
    """Return the flow a `bizbus.flows` module belongs to, or None for the runtime and commons."""
    parts = module.split(".")
    if len(parts) < 3 or parts[1] != "flows" or parts[2] in FLOW_COMMONS:
        return None
    return parts[2]


def test_the_scanner_sees_imports_of_every_kind() -> None:
    imports = graph()
    assert "bizbus.connectors.errors" in imports["bizbus.connectors.httpbase"]
    assert "httpx" in imported_names(ROOT / "connectors/httpbase.py", "bizbus.connectors.httpbase")
    assert layer_of("bizbus.deploy.cli") == 3 and flow_of("bizbus.flows.runtime.guard") is None
    assert flow_of("bizbus.flows.orders.parking") == flow_of("bizbus.flows.orders") == "orders"


def test_imports_point_down_the_layers_only() -> None:
    upward = sorted(
        (module, target)
        for module, targets in graph().items()
        for target in targets
        if layer_of(target) > layer_of(module)
    )
    assert upward == []


@pytest.mark.parametrize("forbidden", ["faust", "aiokafka", "mode"])
def test_connectors_never_import_kafka(forbidden: str) -> None:
    offenders = [
        module
        for module, path in modules().items()
        if module.startswith("bizbus.connectors")
        and any(name.split(".")[0] == forbidden for name in imported_names(path, module))
    ]
    assert offenders == []


def test_no_flow_imports_another_flow() -> None:
    crossing = sorted(
        (module, target)
        for module, targets in graph().items()
        for target in targets
        if flow_of(module) and flow_of(target) and flow_of(module) != flow_of(target)
    )
    assert crossing == []


def test_only_the_worker_imports_flows_from_the_commons() -> None:
    # Otherwise a flow could reach another flow through the shared module or the runtime.
    reaching = sorted(
        (module, target)
        for module, targets in graph().items()
        for target in targets
        if module.startswith("bizbus.flows")
        and not flow_of(module)
        and module != "bizbus.flows.worker"
        and flow_of(target)
    )
    assert reaching == []


def _cycles(edges: dict[str, set[str]]) -> Iterator[list[str]]:
    """Yield the strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()

    def visit(node: str) -> Iterator[list[str]]:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, ()):
            if target not in index:
                yield from visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                yield sorted(component)

    for node in sorted(edges):
        if node not in index:
            yield from visit(node)


def _without_package_reexports(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    """Drop a package's imports of its own submodules: re-exporting them is not a cycle."""
    return {
        module: {t for t in targets if not t.startswith(module + ".")}
        for module, targets in edges.items()
    }


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert list(_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})) == [["a", "b", "c"]]


def test_there_are_no_import_cycles() -> None:
    assert list(_cycles(_without_package_reexports(graph()))) == []


def test_the_folders_are_imported_as_bizbus_only() -> None:
    bare = []
    for path in sorted(ROOT.glob("*/**/*.py")):
        if path.parts[len(ROOT.parts)] in {".venv", "node_modules", ".git"}:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                bare += [(path.name, a.name) for a in node.names if a.name.split(".")[0] in BARE]
            elif (
                isinstance(node, ast.ImportFrom)
                and not node.level
                and node.module
                and node.module.split(".")[0] in BARE
            ):
                bare.append((path.name, node.module))
    assert bare == []
