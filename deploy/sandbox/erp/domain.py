"""Odoo search domains: Polish-notation parsing (implicit `&`) and compilation to SQLite SQL.

`parse` turns `['|', ('a', '=', 1), '!', ('b', 'ilike', 'x')]` into a tree; `compile_domain`
renders it with a caller-supplied leaf renderer, and `leaf_sql` renders one column comparison
with Odoo semantics (`= False` is "not set", `!=`/`not in` include unset values).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

__all__ = [
    "OPERATORS",
    "And",
    "Const",
    "DomainError",
    "Leaf",
    "Node",
    "Not",
    "Or",
    "compile_domain",
    "leaf_sql",
    "normalize_value",
    "parse",
]

OPERATORS = frozenset(
    {"=", "!=", "<>", "<", "<=", ">", ">=", "=?", "in", "not in", "like", "not like",
     "ilike", "not ilike", "=like", "=ilike"}
)  # fmt: skip
_NEGATIVE = {"!=": "=", "not in": "in", "not like": "like", "not ilike": "ilike"}


class DomainError(ValueError):
    """The domain is malformed or uses an operator the sandbox does not support."""


@dataclass(frozen=True)
class Const:
    """A leaf that is always true or always false (Odoo's TRUE_LEAF / FALSE_LEAF)."""

    value: bool


@dataclass(frozen=True)
class Leaf:
    """One `(field_path, operator, value)` comparison."""

    field: str
    operator: str
    value: Any


@dataclass(frozen=True)
class Not:
    """Negation of a sub-domain."""

    child: "Node"


@dataclass(frozen=True)
class And:
    """Conjunction."""

    children: tuple["Node", ...]


@dataclass(frozen=True)
class Or:
    """Disjunction."""

    children: tuple["Node", ...]


Node = Const | Leaf | Not | And | Or
LeafRenderer = Callable[[Leaf], tuple[str, list[Any]]]


def _leaf(item: Any) -> Node:
    if not isinstance(item, list | tuple) or len(item) != 3:
        raise DomainError(f"Invalid leaf {item!r}")
    field, operator, value = item
    if field in (0, 1) and not isinstance(field, bool) and operator == "=" and value == 1:
        return Const(field == 1)
    if not isinstance(field, str) or not field:
        raise DomainError(f"Invalid field {field!r} in leaf {item!r}")
    if not isinstance(operator, str) or operator.lower() not in OPERATORS:
        raise DomainError(f"Invalid operator {operator!r} in leaf {item!r}")
    operator = operator.lower()
    return Leaf(field, "!=" if operator == "<>" else operator, value)


def parse(domain: Sequence[Any] | None) -> Node:
    """Parse a domain in Polish notation; top-level terms are joined with an implicit `&`.

    Raises:
        DomainError: when an operator lacks operands or a leaf is malformed.
    """
    if domain is None:
        return Const(True)
    if not isinstance(domain, list | tuple):
        raise DomainError(f"Invalid domain {domain!r}: expected a list")
    stack: list[Node] = []
    for item in reversed(domain):
        if item in ("&", "|"):
            if len(stack) < 2:
                raise DomainError(f"Domain operator {item!r} needs two operands")
            first, second = stack.pop(), stack.pop()
            stack.append(And((first, second)) if item == "&" else Or((first, second)))
        elif item == "!":
            if not stack:
                raise DomainError("Domain operator '!' needs an operand")
            stack.append(Not(stack.pop()))
        else:
            stack.append(_leaf(item))
    if not stack:
        return Const(True)
    if len(stack) == 1:
        return stack[0]
    return And(tuple(reversed(stack)))


def compile_domain(node: Node, render_leaf: LeafRenderer) -> tuple[str, list[Any]]:
    """Render a parsed domain as an SQL boolean expression and its parameters."""
    if isinstance(node, Const):
        return ("1=1" if node.value else "1=0"), []
    if isinstance(node, Leaf):
        return render_leaf(node)
    if isinstance(node, Not):
        inner, inner_params = compile_domain(node.child, render_leaf)
        return f"NOT ({inner})", inner_params
    joiner = " AND " if isinstance(node, And) else " OR "
    parts: list[str] = []
    params: list[Any] = []
    for child in node.children:
        sql, child_params = compile_domain(child, render_leaf)
        parts.append(f"({sql})")
        params.extend(child_params)
    return joiner.join(parts), params


def normalize_value(ftype: str, value: Any) -> Any:
    """Convert a domain or write value to what the column stores (dates as Odoo strings)."""
    if value is None or (value is False and ftype != "boolean"):
        return None
    if ftype == "boolean":
        return 1 if value else 0
    if ftype == "datetime":
        if isinstance(value, datetime):
            return value.strftime("%Y-%m-%d %H:%M:%S")
        text = str(value).replace("T", " ")
        return text[:19] if len(text) > 10 else f"{text[:10]} 00:00:00"
    if ftype == "date":
        if isinstance(value, date):
            return value.strftime("%Y-%m-%d")
        return str(value)[:10]
    if ftype in ("float", "monetary"):
        return float(value)
    if ftype in ("integer", "many2one"):
        return int(value)
    return value


def _unset(expr: str, ftype: str) -> str:
    if ftype == "boolean":
        return f"({expr} IS NULL OR {expr} = 0)"
    if ftype in ("char", "text", "selection", "html"):
        return f"({expr} IS NULL OR {expr} = '')"
    return f"{expr} IS NULL"


def leaf_sql(expr: str, ftype: str, operator: str, value: Any) -> tuple[str, list[Any]]:
    """Render `expr <operator> value` for a column of Odoo type `ftype`."""
    if ftype in ("float", "monetary"):
        expr = f"CAST({expr} AS REAL)"
    if operator == "=?":
        if value is None or value is False:
            return "1=1", []
        operator = "="
    if operator in _NEGATIVE:
        sql, params = leaf_sql(expr, ftype, _NEGATIVE[operator], value)
        if operator == "!=" and (value is False or value is None):
            return f"NOT {sql}", params
        if operator == "not in" and any(v is False or v is None for v in _as_list(value)):
            return f"NOT ({sql})", params
        return f"(NOT ({sql}) OR {expr} IS NULL)", params
    if operator in ("in",):
        values = _as_list(value)
        present = [normalize_value(ftype, v) for v in values if v is not False and v is not None]
        parts = [f"{expr} IN ({', '.join('?' * len(present))})"] if present else []
        if len(present) < len(values):
            parts.append(_unset(expr, ftype))
        return (" OR ".join(parts) or "1=0"), present
    if operator == "=" and (value is False or value is None):
        return _unset(expr, ftype), []
    if operator in ("like", "ilike"):
        text = str(value)
        if operator == "like" and "%" not in text and "_" not in text:
            return f"instr({expr}, ?) > 0", [text]
        return f"{expr} LIKE ?", [f"%{text}%"]
    if operator in ("=like", "=ilike"):
        return f"{expr} LIKE ?", [str(value)]
    if value is None or value is False:
        return "1=0", []
    return f"{expr} {operator} ?", [normalize_value(ftype, value)]


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple | set) else [value]
