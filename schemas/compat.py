"""Backward-compatibility check between two JSON Schemas of one published event type.

A consumer built for the new schema must still read every payload valid under the old one:
no field removed or renamed, none retyped or narrowed, no new required field. Anything else
needs a new major version (a new type, ``...v2``).

One narrowing is allowed, decided once for v1 (issue #12): a decimal published as pydantic's
validation shape ``anyOf: [number, string]`` may become a string with the decimal pattern
(``values.DECIMAL_PATTERN``; the unsigned one only where the number was already ``>= 0``). It
narrows what a producer may send, not what a v1 consumer reads: bizbus producers always wrote
a Decimal as JSON text (``str(Decimal)``, which the pattern matches, exponent included; only a
negative zero in a non-negative field would not), so no v1 record holds a number or a string
such as ``"lots"``, and v1 consumers already had to read text. Every other narrowing breaks.

``x-personal-data`` is an annotation like ``description`` (issue #15): JSON Schema ignores
unknown keywords, so adding or removing it accepts exactly the same payloads. What it changes
is transport: a tagged field travels sealed in records whose ``ce_piikeyid`` header says so,
and `decode_record` with the key ring gives readers the value the schema describes. A reader
without the key ring loses those values on purpose: that is what the tag is for.
"""

from typing import Any

from bizbus.schemas.values import DECIMAL_PATTERN, PERSONAL_DATA, UNSIGNED_DECIMAL_PATTERN

__all__ = ["breaking_changes"]

# Annotations: they say what a value means or how it travels, never which values are valid.
_NOISE = frozenset({"description", "title", "examples", "default", "$comment", PERSONAL_DATA})

Schema = dict[str, Any]


def breaking_changes(old: Schema, new: Schema) -> list[str]:
    """List the changes from `old` to `new` that break readers of old payloads.

    Args:
        old: The published JSON Schema (with its ``$defs``).
        new: The schema the models produce now.

    Returns:
        Human-readable findings, one per breaking change, e.g.
        ``data.lines[].unit_price: removed or renamed``; empty when compatible.
    """
    return _compare(old, new, old, new, "data")


def _resolve(schema: Schema, root: Schema) -> Schema:
    seen = 0
    while "$ref" in schema and seen < 32:
        name = str(schema["$ref"]).rsplit("/", 1)[-1]
        target = root.get("$defs", {}).get(name, {})
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        seen += 1
    return schema


def _is_object(schema: Schema) -> bool:
    return schema.get("type") == "object" or "properties" in schema


def _values(schema: Schema) -> list[Any] | None:
    if "const" in schema:
        return [schema["const"]]
    if "enum" in schema:
        return list(schema["enum"])
    return None


def _decimal_became_text(old: Schema, new: Schema) -> bool:
    """The allowed narrowing (see the module docstring): number|string decimal → decimal text."""
    branches: list[Schema] = old.get("anyOf", [])
    number = next((b for b in branches if b.get("type") == "number"), None)
    if len(branches) != 2 or number is None or {"type": "string"} not in branches:
        return False
    if new.get("type") != "string" or set(new) - _NOISE - {"type", "pattern"}:
        return False
    if new.get("pattern") == DECIMAL_PATTERN:
        return True
    floor = max(number.get("minimum", -1), number.get("exclusiveMinimum", -1))
    return new.get("pattern") == UNSIGNED_DECIMAL_PATTERN and floor >= 0


def _compare(old: Schema, new: Schema, old_root: Schema, new_root: Schema, path: str) -> list[str]:
    old, new = _resolve(old, old_root), _resolve(new, new_root)
    if _decimal_became_text(old, new):
        return []
    if "anyOf" in old or "anyOf" in new:
        return _compare_union(old, new, old_root, new_root, path)
    if _is_object(old):
        return _compare_object(old, new, old_root, new_root, path)
    if old.get("type") == "array":
        if new.get("type") != "array":
            return [f"{path}: retyped (was an array)"]
        return _compare(old.get("items", {}), new.get("items", {}), old_root, new_root, path + "[]")
    return _compare_leaf(old, new, path)


def _compare_union(
    old: Schema, new: Schema, old_root: Schema, new_root: Schema, path: str
) -> list[str]:
    new_branches = new.get("anyOf", [new])
    for branch in old.get("anyOf", [old]):
        if not any(not _compare(branch, b, old_root, new_root, path) for b in new_branches):
            return [f"{path}: retyped (a type it accepted is no longer accepted)"]
    return []


def _compare_object(
    old: Schema, new: Schema, old_root: Schema, new_root: Schema, path: str
) -> list[str]:
    if not _is_object(new):
        return [f"{path}: retyped (was an object)"]
    problems: list[str] = []
    old_props: Schema = old.get("properties", {})
    new_props: Schema = new.get("properties", {})
    for name, sub in old_props.items():
        if name not in new_props:
            problems.append(f"{path}.{name}: removed or renamed")
        else:
            problems += _compare(sub, new_props[name], old_root, new_root, f"{path}.{name}")
    for name in sorted(set(new.get("required", ())) - set(old.get("required", ()))):
        problems.append(f"{path}.{name}: newly required")
    old_extra, new_extra = old.get("additionalProperties"), new.get("additionalProperties")
    if isinstance(old_extra, dict):
        if new_extra is False:
            problems.append(f"{path}: no longer accepts additional properties")
        elif isinstance(new_extra, dict):
            problems += _compare(old_extra, new_extra, old_root, new_root, f"{path}.*")
    return problems


def _compare_leaf(old: Schema, new: Schema, path: str) -> list[str]:
    old_values, new_values = _values(old), _values(new)
    if old_values is not None and new_values is not None:
        missing = [value for value in old_values if value not in new_values]
        if missing:
            return [f"{path}: no longer accepts {missing}"]
    old_sig = {k: v for k, v in old.items() if k not in _NOISE | {"enum", "const"}}
    new_sig = {k: v for k, v in new.items() if k not in _NOISE | {"enum", "const"}}
    if old_values is None and new_values is not None:
        return [f"{path}: narrowed to {new_values}"]
    if old_sig != new_sig:
        return [f"{path}: retyped or constrained ({old_sig} -> {new_sig})"]
    return []
