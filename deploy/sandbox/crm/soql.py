"""A SOQL subset for the sandbox CRM: tokenizer and parser into a small AST (pure, no I/O).

SELECT fields | COUNT() FROM object [WHERE cond] [ORDER BY f [ASC|DESC] [NULLS FIRST|LAST], ...]
[LIMIT n] [OFFSET n]; cond: comparisons (= != <> < <= > >=, LIKE, IN, NOT IN) joined
by AND/OR (mixing needs parentheses, as in Salesforce) and NOT; literals: 'strings', numbers,
true/false/null, unquoted dates and datetimes, TODAY/YESTERDAY/LAST_N_DAYS:n. Errors: SoqlError.
"""

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, Union

__all__ = [
    "And",
    "Comparison",
    "Expr",
    "Not",
    "Or",
    "OrderBy",
    "Query",
    "SoqlError",
    "Token",
    "Value",
    "date_literal_range",
    "parse",
    "tokenize",
]


class SoqlError(Exception):
    """A query Salesforce would reject; `error_code` is MALFORMED_QUERY, INVALID_FIELD, ..."""

    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message


@dataclass(frozen=True)
class Token:
    """One lexical token; `kind` is ident, string, number, datetime, date, op or punct."""

    kind: str
    text: str
    value: Any
    pos: int


ValueKind = Literal["string", "number", "boolean", "null", "datetime", "date", "date_literal"]


@dataclass(frozen=True)
class Value:
    """A literal; dates are `date`, datetimes UTC-aware `datetime`, date literals their name."""

    kind: ValueKind
    value: Any


@dataclass(frozen=True)
class Comparison:
    """`field op value`; op is = != < <= > >= LIKE IN NOT IN."""

    field: str
    op: str
    value: Value | tuple[Value, ...]


@dataclass(frozen=True)
class And:
    """All of the items."""

    items: tuple["Expr", ...]


@dataclass(frozen=True)
class Or:
    """Any of the items."""

    items: tuple["Expr", ...]


@dataclass(frozen=True)
class Not:
    """The negation of an expression."""

    item: "Expr"


Expr = Union[Comparison, And, Or, Not]  # noqa: UP007 - recursive alias needs Union


@dataclass(frozen=True)
class OrderBy:
    """One ORDER BY key."""

    field: str
    descending: bool = False
    nulls_last: bool | None = None  # None: Salesforce default (nulls first ASC, last DESC)


@dataclass(frozen=True)
class Query:
    """A parsed SELECT. `fields` is empty for COUNT()."""

    fields: tuple[str, ...]
    sobject: str
    where: Expr | None = None
    order_by: tuple[OrderBy, ...] = ()
    limit: int | None = None
    offset: int | None = None
    count: bool = False


_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2})
  | (?P<number>[+-]?\d+(?:\.\d+)?)
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<op>!=|<>|<=|>=|=|<|>)
  | (?P<punct>[(),:])
    """,
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}
_KEYWORDS = frozenset({
    "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "ORDER", "BY", "ASC", "DESC", "NULLS",
    "FIRST", "LAST", "LIMIT", "OFFSET", "LIKE", "IN", "TRUE", "FALSE", "NULL", "COUNT",
    "INCLUDES", "EXCLUDES", "GROUP", "HAVING", "WITH", "FOR",
})  # fmt: skip
_DATE_LITERALS = frozenset({"TODAY", "YESTERDAY", "TOMORROW", "LAST_N_DAYS", "NEXT_N_DAYS"})


def _unescape(body: str, pos: int) -> str:
    out, i = [], 0
    while i < len(body):
        char = body[i]
        if char == "\\":
            nxt = body[i + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
            elif nxt in "%_":
                out.append("\\" + nxt)  # kept: meaningful to LIKE only
            else:
                raise SoqlError("MALFORMED_QUERY", f"Invalid string literal escape at {pos + i}")
            i += 2
        else:
            out.append(char)
            i += 1
    return "".join(out)


def _parse_datetime(text: str) -> datetime:
    text = text.replace("Z", "+00:00")
    if re.search(r"[+-]\d{4}$", text):
        text = text[:-2] + ":" + text[-2:]
    return datetime.fromisoformat(text).astimezone(UTC)


def tokenize(soql: str) -> list[Token]:
    """Split a query into tokens.

    Raises:
        SoqlError: MALFORMED_QUERY on a character no token starts with.
    """
    tokens: list[Token] = []
    pos = 0
    while pos < len(soql):
        match = _TOKEN_RE.match(soql, pos)
        if match is None:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{soql[pos : pos + 10]}'")
        kind, text = match.lastgroup or "", match.group()
        pos = match.end()
        if kind == "ws":
            continue
        value: Any = text
        try:
            if kind == "datetime":
                value = _parse_datetime(text)
            elif kind == "date":
                value = date.fromisoformat(text)
        except ValueError as exc:
            raise SoqlError("MALFORMED_QUERY", f"invalid date/time literal: {text}") from exc
        if kind == "number":
            value = float(text) if "." in text else int(text)
        elif kind == "string":
            value = _unescape(text[1:-1], match.start() + 1)
        tokens.append(Token(kind, text, value, match.start()))
    return tokens


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.i = 0

    def peek(self, offset: int = 0) -> Token | None:
        index = self.i + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def is_kw(self, *words: str, offset: int = 0) -> bool:
        token = self.peek(offset)
        return token is not None and token.kind == "ident" and token.text.upper() in words

    def fail(self) -> SoqlError:
        token = self.peek()
        if token is None:
            return SoqlError("MALFORMED_QUERY", "unexpected token: <EOF>")
        where = f"ERROR at Row:1:Column:{token.pos + 1}"
        return SoqlError("MALFORMED_QUERY", f"{where}\nunexpected token: '{token.text}'")

    def next(self) -> Token:
        token = self.peek()
        if token is None:
            raise self.fail()
        self.i += 1
        return token

    def expect_kw(self, word: str) -> None:
        if not self.is_kw(word):
            raise self.fail()
        self.i += 1

    def expect_punct(self, text: str) -> None:
        token = self.peek()
        if token is None or token.text != text:
            raise self.fail()
        self.i += 1

    def ident(self, *, keyword_ok: bool = False) -> str:
        token = self.peek()
        if token is None or token.kind != "ident":
            raise self.fail()
        if token.text.upper() in _KEYWORDS and not keyword_ok:
            raise self.fail()
        self.i += 1
        return token.text

    def query(self) -> Query:
        self.expect_kw("SELECT")
        fields: list[str] = []
        count = False
        if self.is_kw("COUNT") and (nxt := self.peek(1)) is not None and nxt.text == "(":
            self.i += 2
            self.expect_punct(")")
            count = True
        else:
            fields.append(self.ident())
            while (token := self.peek()) is not None and token.text == ",":
                self.i += 1
                fields.append(self.ident())
        self.expect_kw("FROM")
        sobject = self.ident(keyword_ok=True)  # `FROM Order` is fine
        where = None
        if self.is_kw("WHERE"):
            self.i += 1
            where = self.condition()
        order: list[OrderBy] = []
        if self.is_kw("ORDER"):
            self.i += 1
            self.expect_kw("BY")
            order.append(self.order_key())
            while (token := self.peek()) is not None and token.text == ",":
                self.i += 1
                order.append(self.order_key())
        limit = self.integer_clause("LIMIT")
        offset = self.integer_clause("OFFSET")
        if self.peek() is not None:
            raise self.fail()
        return Query(tuple(fields), sobject, where, tuple(order), limit, offset, count)

    def integer_clause(self, word: str) -> int | None:
        if not self.is_kw(word):
            return None
        self.i += 1
        token = self.next()
        if token.kind != "number" or not isinstance(token.value, int) or token.value < 0:
            raise SoqlError("MALFORMED_QUERY", f"{word} must be a non-negative integer")
        return token.value

    def order_key(self) -> OrderBy:
        name = self.ident()
        descending = False
        if self.is_kw("ASC", "DESC"):
            descending = self.next().text.upper() == "DESC"
        nulls_last = None
        if self.is_kw("NULLS"):
            self.i += 1
            if not self.is_kw("FIRST", "LAST"):
                raise self.fail()
            nulls_last = self.next().text.upper() == "LAST"
        return OrderBy(name, descending, nulls_last)

    def condition(self) -> Expr:
        items = [self.unary()]
        joiner: str | None = None
        while self.is_kw("AND", "OR"):
            word = self.next().text.upper()
            if joiner is not None and word != joiner:
                raise SoqlError(
                    "MALFORMED_QUERY", "unexpected token: use parentheses to mix AND and OR"
                )
            joiner = word
            items.append(self.unary())
        if joiner is None:
            return items[0]
        return And(tuple(items)) if joiner == "AND" else Or(tuple(items))

    def unary(self) -> Expr:
        if self.is_kw("NOT"):
            self.i += 1
            return Not(self.unary())
        token = self.peek()
        if token is not None and token.text == "(":
            self.i += 1
            inner = self.condition()
            self.expect_punct(")")
            return inner
        return self.comparison()

    def comparison(self) -> Expr:
        name = self.ident()
        token = self.peek()
        if token is not None and token.kind == "op":
            self.i += 1
            op = "!=" if token.text == "<>" else token.text
            return Comparison(name, op, self.value())
        if self.is_kw("LIKE"):
            self.i += 1
            value = self.value()
            if value.kind != "string":
                raise SoqlError("MALFORMED_QUERY", "LIKE needs a string literal")
            return Comparison(name, "LIKE", value)
        negated = False
        if self.is_kw("NOT") and self.is_kw("IN", offset=1):
            self.i += 1
            negated = True
        if self.is_kw("IN"):
            self.i += 1
            self.expect_punct("(")
            values = [self.value()]
            while (nxt := self.peek()) is not None and nxt.text == ",":
                self.i += 1
                values.append(self.value())
            self.expect_punct(")")
            return Comparison(name, "NOT IN" if negated else "IN", tuple(values))
        raise self.fail()

    def value(self) -> Value:
        token = self.next()
        if token.kind == "string":
            return Value("string", token.value)
        if token.kind == "number":
            return Value("number", token.value)
        if token.kind in ("datetime", "date"):
            return Value(token.kind, token.value)  # type: ignore[arg-type]
        word = token.text.upper()
        if token.kind == "ident" and word in ("TRUE", "FALSE"):
            return Value("boolean", word == "TRUE")
        if token.kind == "ident" and word == "NULL":
            return Value("null", None)
        if token.kind == "ident" and word in _DATE_LITERALS:
            if word.endswith("_N_DAYS"):
                self.expect_punct(":")
                amount = self.next()
                if amount.kind != "number" or not isinstance(amount.value, int):
                    raise SoqlError("MALFORMED_QUERY", f"{word} needs a whole number of days")
                return Value("date_literal", (word, amount.value))
            return Value("date_literal", (word, 0))
        self.i -= 1
        raise self.fail()


def parse(soql: str) -> Query:
    """Parse a SOQL query.

    Raises:
        SoqlError: MALFORMED_QUERY when the text is outside the supported grammar.
    """
    return _Parser(tokenize(soql)).query()


def date_literal_range(name: str, amount: int, today: date) -> tuple[date, date]:
    """Return the [start, end) day range a date literal covers, given today's date (UTC)."""
    if name == "TODAY":
        return today, today + timedelta(days=1)
    if name == "YESTERDAY":
        return today - timedelta(days=1), today
    if name == "TOMORROW":
        return today + timedelta(days=1), today + timedelta(days=2)
    if name == "LAST_N_DAYS":
        return today - timedelta(days=amount), today + timedelta(days=1)
    return today, today + timedelta(days=amount + 1)  # NEXT_N_DAYS (includes today as SOQL)
