"""SOQL building: literals escaped as Salesforce documents, names checked, datetimes in UTC ms."""

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from bizbus.connectors.salesforce.soql import (
    conditions,
    format_datetime,
    format_soql,
    identifier,
    literal,
    parse_datetime,
    quote,
    quote_like,
    select,
)


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("plain", "'plain'"),
        ("O'Brien", r"'O\'Brien'"),
        ("x' OR Name != '", r"'x\' OR Name != \''"),
        ("back\\slash", r"'back\\slash'"),
        ("two\nlines\ttab", r"'two\nlines\ttab'"),
        ('say "hi"', r"'say \"hi\"'"),
        ("苏州恒力精工", "'苏州恒力精工'"),
        ("50%_off", "'50%_off'"),
    ],
)
def test_strings_are_quoted_with_salesforce_escapes(text: str, quoted: str) -> None:
    assert quote(text) == quoted


def test_like_patterns_escape_wildcards_too() -> None:
    assert quote_like("50%_off'") == r"'50\%\_off\''"
    assert format_soql("Name LIKE {p:like}", p="a_b") == r"Name LIKE 'a\_b'"


def test_literals_of_every_supported_type() -> None:
    assert literal(None) == "null"
    assert literal(True) == "true" and literal(False) == "false"
    assert literal(42) == "42"
    assert literal(Decimal("1350.50")) == "1350.50"
    assert literal(1e20) == "100000000000000000000"
    assert literal(0.1) == "0.1"
    assert literal(date(2026, 11, 27)) == "2026-11-27"
    shanghai = timezone(timedelta(hours=8))
    assert literal(datetime(2026, 11, 27, 13, 0, 0, 123456, tzinfo=shanghai)) == (
        "2026-11-27T05:00:00.123Z"
    )
    assert literal(("a", "b'")) == r"('a', 'b\'')"
    assert literal({"b", "a"}) == "('a', 'b')"


NAIVE = datetime(2026, 1, 1)  # noqa: DTZ001 - naive on purpose


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), NAIVE, [], object(), b"bytes"])
def test_values_without_a_safe_literal_are_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        literal(bad)


def test_format_soql_renders_every_argument_as_a_literal() -> None:
    soql = format_soql(
        "SELECT Id FROM Account WHERE ErpCustomerRef__c = {ref} AND Id IN {ids}",
        ref="C' OR Id != '",
        ids=["001A", "001B"],
    )
    assert soql == (
        "SELECT Id FROM Account WHERE ErpCustomerRef__c = 'C\\' OR Id != \\'' "
        "AND Id IN ('001A', '001B')"
    )
    with pytest.raises(ValueError, match="format spec"):
        format_soql("{x:>10}", x="a")


def test_select_checks_names_and_builds_the_clauses() -> None:
    soql = select(
        "Order",
        ["Id", "SystemModstamp", "Id", "Account.Name"],
        where="Status = 'Draft'",
        order_by=["SystemModstamp", "Id DESC"],
        limit=200,
    )
    assert soql == (
        "SELECT Id, SystemModstamp, Account.Name FROM Order WHERE Status = 'Draft' "
        "ORDER BY SystemModstamp, Id DESC LIMIT 200"
    )
    for bad in ["Id, Name", "Name FROM User--", "a.b.c", "", "1Name"]:
        with pytest.raises(ValueError):
            identifier(bad)
    with pytest.raises(ValueError):
        select("Order", ["Id"], order_by=["Id; DROP"])
    with pytest.raises(ValueError):
        select("Order", ["Id"], limit=0)
    assert conditions({"IsStandard": True, "Name": None}) == "IsStandard = true AND Name = null"


def test_salesforce_datetimes_round_trip_in_utc() -> None:
    moment = parse_datetime("2026-11-27T05:00:00.000+0000")
    assert moment == datetime(2026, 11, 27, 5, tzinfo=UTC)
    assert parse_datetime("2026-11-27T13:00:00.250+0800") == moment + timedelta(milliseconds=250)
    assert parse_datetime("2026-11-27T05:00:00Z") == moment
    assert format_datetime(moment) == "2026-11-27T05:00:00.000Z"
    with pytest.raises(ValueError):
        format_datetime(datetime(2026, 11, 27))  # noqa: DTZ001 - naive on purpose
