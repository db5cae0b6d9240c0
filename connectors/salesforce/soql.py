"""SOQL text built safely: literals escaped as Salesforce documents, names checked, no injection.

``format_soql("... WHERE Name = {name}", name=value)`` renders every argument as a literal;
``{x:like}`` escapes ``%`` and ``_`` too. Datetimes render in UTC with milliseconds, as
``SystemModstamp`` carries them (``2026-11-27T05:00:00.000Z``).
"""

import math
import re
import string
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

__all__ = [
    "conditions",
    "format_datetime",
    "format_soql",
    "identifier",
    "literal",
    "parse_datetime",
    "quote",
    "quote_like",
    "select",
]

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)?$")
# Salesforce's SOQL escape sequences for quoted strings.
_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}


def identifier(name: str) -> str:
    """Return ``name`` if it is a field or object API name (``Account.Name`` allowed).

    Raises:
        ValueError: ``name`` could smuggle SOQL syntax.
    """
    if not _NAME.match(name):
        raise ValueError(f"not a SOQL field or object name: {name[:40]!r}")
    return name


def quote(text: str) -> str:
    """Quote ``text`` as a SOQL string literal."""
    return "'" + "".join(_ESCAPES.get(char, char) for char in text) + "'"


def quote_like(text: str) -> str:
    """Quote ``text`` for ``LIKE``, escaping its wildcards (add your own ``%`` around it)."""
    escaped = "".join(_ESCAPES.get(char, char) for char in text)
    return "'" + escaped.replace("%", "\\%").replace("_", "\\_") + "'"


def format_datetime(moment: datetime) -> str:
    """Render an aware datetime as a SOQL dateTime literal in UTC with milliseconds."""
    if moment.tzinfo is None:
        raise ValueError("SOQL datetimes must be timezone-aware")
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_datetime(text: str) -> datetime:
    """Parse a Salesforce datetime (``2026-11-27T05:00:00.000+0000``, ``...Z``) into UTC.

    The one parser of Salesforce datetimes (feeds, write comparisons, flows' mappings); Python
    3.11's ``fromisoformat`` reads the ``+0000`` and ``Z`` forms, and a naive time is UTC.
    """
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def literal(value: Any) -> str:
    """Render a Python value as a SOQL literal.

    ``None`` → ``null``; bools; ints, floats and Decimals as plain numbers; aware datetimes
    and dates unquoted; strings quoted; lists, tuples and sets as ``(a, b)`` for ``IN``.

    Raises:
        ValueError: The value has no safe literal form (NaN, naive datetime, other types).
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal):
        if not math.isfinite(value):
            raise ValueError("SOQL numbers must be finite")
        return format(Decimal(str(value)) if isinstance(value, float) else value, "f")
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        if not items:
            raise ValueError("SOQL IN lists must not be empty")
        return "(" + ", ".join(literal(item) for item in items) + ")"
    raise ValueError(f"no SOQL literal for {type(value).__name__}")


class _Formatter(string.Formatter):
    def format_field(self, value: Any, format_spec: str) -> str:
        if format_spec == "like":
            if not isinstance(value, str):
                raise ValueError("{x:like} needs a string")
            return quote_like(value)
        if format_spec:
            raise ValueError(f"unknown SOQL format spec {format_spec!r} (only 'like')")
        return literal(value)


def format_soql(template: str, /, *args: Any, **kwargs: Any) -> str:
    """Fill ``template``'s ``{}`` fields with escaped literals (``{x:like}`` for LIKE).

    Example:
        ``format_soql("SELECT Id FROM Account WHERE ErpCustomerRef__c = {ref}", ref="C'1")``
    """
    return _Formatter().format(template, *args, **kwargs)


def select(
    obj: str,
    fields: Iterable[str],
    *,
    where: str | None = None,
    order_by: Sequence[str] = (),
    limit: int | None = None,
) -> str:
    """Build ``SELECT fields FROM obj [WHERE ...] [ORDER BY ...] [LIMIT n]``.

    Args:
        obj: sObject API name.
        fields: Field API names (checked).
        where: A condition already built with ``format_soql``/``literal``.
        order_by: Field names, optionally followed by ``ASC``/``DESC``.
        limit: Row limit (>= 1).
    """
    names = [identifier(name) for name in dict.fromkeys(fields)]
    if not names:
        raise ValueError("select needs at least one field")
    text = f"SELECT {', '.join(names)} FROM {identifier(obj)}"  # noqa: S608 - names checked
    if where:
        text += f" WHERE {where}"
    if order_by:
        text += " ORDER BY " + ", ".join(_order_term(term) for term in order_by)
    if limit is not None:
        if limit < 1:
            raise ValueError("LIMIT must be >= 1")
        text += f" LIMIT {int(limit)}"
    return text


def _order_term(term: str) -> str:
    name, _, direction = term.partition(" ")
    direction = direction.strip().upper()
    if direction not in ("", "ASC", "DESC"):
        raise ValueError(f"bad ORDER BY direction {direction[:10]!r}")
    return f"{identifier(name)} {direction}".rstrip()


def conditions(values: Mapping[str, Any]) -> str:
    """``a = 1 AND b = 'x'`` from a mapping of field names to values (``None`` → ``null``)."""
    return " AND ".join(f"{identifier(name)} = {literal(v)}" for name, v in values.items())
