"""Odoo domains: Polish notation with implicit '&', compiled to SQL that SQLite runs."""

import sqlite3

import pytest

from bizbus.deploy.sandbox.erp.domain import (
    And,
    Const,
    DomainError,
    Leaf,
    Not,
    Or,
    compile_domain,
    leaf_sql,
    normalize_value,
    parse,
)

ROWS = [
    (1, "上海电气", "C1", 1, "2025-01-01 10:00:00", 100.0),
    (2, "宁波海天", "C2", 0, "2025-01-02 10:00:00", 250.5),
    (3, "Shenzhen Tech", None, 1, "2025-01-03 10:00:00", None),
]
TYPES = {"id": "integer", "name": "char", "ref": "char", "active": "boolean",
         "write_date": "datetime", "amount": "float"}  # fmt: skip


@pytest.fixture
def db() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (id, name, ref, active, write_date, amount)")
    conn.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?)", ROWS)
    return conn


def ids(db: sqlite3.Connection, domain: list[object]) -> list[int]:
    def render(leaf: Leaf) -> tuple[str, list[object]]:
        return leaf_sql(f"t.{leaf.field}", TYPES[leaf.field], leaf.operator, leaf.value)

    sql, params = compile_domain(parse(domain), render)
    return [r[0] for r in db.execute(f"SELECT id FROM t WHERE {sql} ORDER BY id", params)]  # noqa: S608


def test_top_level_terms_are_joined_with_implicit_and() -> None:
    node = parse([("a", "=", 1), ("b", "=", 2)])
    assert node == And((Leaf("a", "=", 1), Leaf("b", "=", 2)))


def test_polish_notation_nests_operators() -> None:
    node = parse(["|", ("a", "=", 1), "!", ("b", "=", 2)])
    assert node == Or((Leaf("a", "=", 1), Not(Leaf("b", "=", 2))))
    node = parse(["&", "|", ("a", "=", 1), ("b", "=", 2), ("c", "=", 3)])
    assert node == And((Or((Leaf("a", "=", 1), Leaf("b", "=", 2))), Leaf("c", "=", 3)))


def test_empty_domain_and_true_false_leaves() -> None:
    assert parse([]) == Const(True)
    assert parse(None) == Const(True)
    assert parse([(1, "=", 1)]) == Const(True)
    assert parse([(0, "=", 1)]) == Const(False)


@pytest.mark.parametrize(
    "bad",
    [["|", ("a", "=", 1)], ["!"], [("a", "=")], [("a", "~", 1)], "name", [("", "=", 1)]],
)
def test_malformed_domains_are_rejected(bad: object) -> None:
    with pytest.raises(DomainError):
        parse(bad)  # type: ignore[arg-type]


def test_operator_aliases_are_normalised() -> None:
    assert parse([("a", "<>", 1)]) == Leaf("a", "!=", 1)
    assert parse([("a", "ILIKE", "x")]) == Leaf("a", "ilike", "x")


def test_sql_matches_odoo_semantics(db: sqlite3.Connection) -> None:
    assert ids(db, [("ref", "=", False)]) == [3]
    assert ids(db, [("ref", "!=", False)]) == [1, 2]
    assert ids(db, [("ref", "!=", "C1")]) == [2, 3]  # unset values are "different"
    assert ids(db, [("ref", "in", ["C2", False])]) == [2, 3]
    assert ids(db, [("ref", "not in", ["C2"])]) == [1, 3]
    assert ids(db, [("active", "=", False)]) == [2]
    assert ids(db, [("name", "ilike", "shenzhen")]) == [3]
    assert ids(db, [("name", "like", "海天")]) == [2]
    assert ids(db, [("name", "not ilike", "tech")]) == [1, 2]
    assert ids(db, [("name", "=like", "上海%")]) == [1]
    assert ids(db, [("amount", ">", 100)]) == [2]
    assert ids(db, [("amount", "=?", False)]) == [1, 2, 3]
    assert ids(db, [("id", "in", [])]) == []


def test_boolean_operators_compose(db: sqlite3.Connection) -> None:
    assert ids(db, ["|", ("id", "=", 1), ("id", "=", 3)]) == [1, 3]
    assert ids(db, ["!", ("id", "=", 1)]) == [2, 3]
    assert ids(db, ["&", ("active", "=", True), "!", ("ref", "=", False)]) == [1]
    assert ids(db, ["|", "&", ("id", ">", 1), ("active", "=", True), ("ref", "=", "C1")]) == [1, 3]


def test_write_date_watermarks_compare_in_odoo_format(db: sqlite3.Connection) -> None:
    assert ids(db, [("write_date", ">=", "2025-01-02 10:00:00")]) == [2, 3]
    assert ids(db, [("write_date", ">=", "2025-01-02T10:00:00")]) == [2, 3]
    assert ids(db, [("write_date", ">", "2025-01-02")]) == [2, 3]


def test_values_are_normalised_per_type() -> None:
    assert normalize_value("datetime", "2025-03-04T05:06:07.123456") == "2025-03-04 05:06:07"
    assert normalize_value("date", "2025-03-04 05:06:07") == "2025-03-04"
    assert normalize_value("boolean", False) == 0
    assert normalize_value("char", False) is None
    assert normalize_value("float", "1.5") == 1.5
