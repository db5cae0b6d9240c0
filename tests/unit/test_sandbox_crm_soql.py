from datetime import UTC, date, datetime

import pytest

from bizbus.deploy.sandbox.crm.query import compile_query
from bizbus.deploy.sandbox.crm.soql import (
    And,
    Comparison,
    Not,
    Or,
    OrderBy,
    SoqlError,
    Value,
    parse,
)

TODAY = date(2026, 11, 27)


def test_polling_query_parses_with_an_unquoted_datetime_literal() -> None:
    query = parse(
        "SELECT Id, Status FROM Order WHERE SystemModstamp >= 2026-11-27T05:00:00.000+0000 "
        "ORDER BY SystemModstamp, Id LIMIT 200"
    )
    assert query.sobject == "Order"
    assert query.fields == ("Id", "Status")
    assert query.where == Comparison(
        "SystemModstamp", ">=", Value("datetime", datetime(2026, 11, 27, 5, tzinfo=UTC))
    )
    assert query.order_by == (OrderBy("SystemModstamp"), OrderBy("Id"))
    assert query.limit == 200


@pytest.mark.parametrize(
    "literal",
    [
        "2026-11-27T05:00:00Z",
        "2026-11-27T05:00:00.000Z",
        "2026-11-27T13:00:00+08:00",
        "2026-11-27T13:00:00.000+0800",
    ],
)
def test_datetime_literal_forms_mean_the_same_instant(literal: str) -> None:
    where = parse(f"SELECT Id FROM Lead WHERE CreatedDate > {literal}").where  # noqa: S608 - SOQL text, not SQL
    assert isinstance(where, Comparison)
    assert where.value == Value("datetime", datetime(2026, 11, 27, 5, tzinfo=UTC))


def test_and_or_not_and_parentheses() -> None:
    where = parse(
        "SELECT Id FROM Lead WHERE (Status = 'Open' OR City = '苏州') AND NOT IsConverted = true"
    ).where
    assert where == And(
        (
            Or(
                (
                    Comparison("Status", "=", Value("string", "Open")),
                    Comparison("City", "=", Value("string", "苏州")),
                )
            ),
            Not(Comparison("IsConverted", "=", Value("boolean", True))),
        )
    )


def test_mixing_and_with_or_without_parentheses_is_malformed() -> None:
    with pytest.raises(SoqlError) as caught:
        parse("SELECT Id FROM Lead WHERE Status = 'a' AND City = 'b' OR City = 'c'")
    assert caught.value.error_code == "MALFORMED_QUERY"


def test_in_like_null_and_string_escapes() -> None:
    where = parse(
        r"SELECT Id FROM Account WHERE Name LIKE 'O\'Brien%' AND Id NOT IN ('a', 'b') "
        "AND Phone != null"
    ).where
    assert isinstance(where, And)
    assert where.items[0] == Comparison("Name", "LIKE", Value("string", "O'Brien%"))
    assert where.items[1] == Comparison(
        "Id", "NOT IN", (Value("string", "a"), Value("string", "b"))
    )
    assert where.items[2] == Comparison("Phone", "!=", Value("null", None))


def test_count_keywords_are_case_insensitive_and_order_by_options() -> None:
    query = parse("select count() from order where status = 'Draft'")
    assert query.count and query.fields == ()
    query = parse("SELECT Name FROM Account ORDER BY Name DESC NULLS LAST LIMIT 5 OFFSET 10")
    assert query.order_by == (OrderBy("Name", descending=True, nulls_last=True),)
    assert (query.limit, query.offset) == (5, 10)


@pytest.mark.parametrize(
    "soql",
    [
        "SELECT FROM Lead",
        "SELECT Id Lead",
        "SELECT Id FROM Lead WHERE",
        "SELECT Id FROM Lead LIMIT x",
        "SELECT Id FROM Lead WHERE Name = 'open",
        "SELECT Id FROM Lead GROUP BY Name",
    ],
)
def test_malformed_queries_raise_malformed_query(soql: str) -> None:
    with pytest.raises(SoqlError) as caught:
        parse(soql)
    assert caught.value.error_code == "MALFORMED_QUERY"


def test_unknown_object_is_invalid_type_and_unknown_field_invalid_field() -> None:
    with pytest.raises(SoqlError) as caught:
        compile_query(parse("SELECT Id FROM Opportunity__x"), today=TODAY)
    assert caught.value.error_code == "INVALID_TYPE"
    with pytest.raises(SoqlError) as caught:
        compile_query(parse("SELECT Id, Colour__c FROM Product2"), today=TODAY)
    assert caught.value.error_code == "INVALID_FIELD"


def test_quoted_datetime_is_rejected_like_salesforce() -> None:
    with pytest.raises(SoqlError) as caught:
        compile_query(
            parse("SELECT Id FROM Order WHERE SystemModstamp > '2026-11-27T05:00:00Z'"),
            today=TODAY,
        )
    assert caught.value.error_code == "INVALID_QUERY_FILTER_OPERATOR"


def test_compiled_sql_binds_values_and_normalizes_datetimes_and_ids() -> None:
    compiled = compile_query(
        parse(
            "SELECT Id, Account.Name FROM Order WHERE SystemModstamp >= 2026-11-27T13:00:00+08:00 "
            "AND AccountId = '001D000000IqhSL' ORDER BY SystemModstamp, Id LIMIT 10"
        ),
        today=TODAY,
    )
    assert compiled.params == ["2026-11-27T05:00:00.000+0000", "001D000000IqhSLIAZ"]
    assert 'LEFT JOIN "Account"' in compiled.sql
    assert compiled.sql.endswith("LIMIT 10 OFFSET 0")
    assert compiled.relationships == ["Account"]


def test_date_literals_become_day_ranges() -> None:
    compiled = compile_query(
        parse("SELECT Id FROM Lead WHERE CreatedDate = LAST_N_DAYS:7"), today=TODAY
    )
    assert compiled.params == ["2026-11-20T00:00:00.000+0000", "2026-11-28T00:00:00.000+0000"]
