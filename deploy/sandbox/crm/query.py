"""SOQL evaluation for the sandbox CRM: a parsed query compiled to SQLite, plus result paging.

Fields are checked against the object definitions (so only known column names reach SQL);
parent relationships one level deep (`Account.Name`) work in SELECT, WHERE and ORDER BY.
Pages follow Salesforce: `done`, `totalSize`, `nextRecordsUrl` = `.../query/01g...-2000`.
"""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from bizbus.deploy.sandbox.crm.ids import InvalidId, normalize_id
from bizbus.deploy.sandbox.crm.objects import (
    ID_TYPES,
    NUMBER_TYPES,
    OBJECTS,
    TEXT_TYPES,
    FieldDef,
    ObjectDef,
    find_object,
)
from bizbus.deploy.sandbox.crm.records import attributes
from bizbus.deploy.sandbox.crm.soql import (
    And,
    Comparison,
    Expr,
    Not,
    Or,
    Query,
    SoqlError,
    Value,
    date_literal_range,
)
from bizbus.deploy.sandbox.crm.values import format_datetime, from_db

__all__ = ["Column", "CompiledQuery", "compile_query"]


@dataclass(frozen=True)
class Column:
    """One selected field: `relationship` is None for the object's own fields."""

    path: str
    fdef: FieldDef
    relationship: str | None = None
    parent: ObjectDef | None = None


@dataclass
class CompiledQuery:
    """SQL for the rows, SQL for the count, and how to shape each row."""

    obj: ObjectDef
    columns: list[Column]
    sql: str
    params: list[Any] = field(default_factory=list)
    count_only: bool = False
    relationships: list[str] = field(default_factory=list)

    def shape(self, row: tuple[Any, ...], version: str) -> dict[str, Any]:
        """Return one result row as a Salesforce query record (with `attributes`)."""
        record: dict[str, Any] = {"attributes": attributes(self.obj.name, row[0], version)}
        parent_ids = dict(zip(self.relationships, row[1 + len(self.columns) :], strict=True))
        for column, value in zip(self.columns, row[1:], strict=False):
            if column.relationship is None:
                record[column.fdef.name] = from_db(column.fdef, value)
                continue
            parent_id = parent_ids[column.relationship]
            if parent_id is None:
                record[column.relationship] = None
                continue
            assert column.parent is not None  # noqa: S101 - set with relationship
            nested = record.setdefault(
                column.relationship,
                {"attributes": attributes(column.parent.name, parent_id, version)},
            )
            nested[column.fdef.name] = from_db(column.fdef, value)
        return record


class _Compiler:
    def __init__(self, obj: ObjectDef, today: date) -> None:
        self.obj = obj
        self.today = today
        # relationship name (lower case) -> (SQL alias, reference field, parent object)
        self.joins: dict[str, tuple[str, FieldDef, ObjectDef]] = {}
        self.params: list[Any] = []

    def resolve(self, path: str) -> tuple[str, FieldDef, str | None, ObjectDef | None]:
        """Return (SQL expression, field, relationship name, parent object) of a field path."""
        parts = path.split(".")
        if len(parts) == 1:
            fdef = self.obj.field(path)
            if fdef is None:
                raise _no_column(path, self.obj.name)
            return f't."{fdef.name}"', fdef, None, None
        if len(parts) > 2:
            raise SoqlError("MALFORMED_QUERY", f"relationship paths deeper than one: {path}")
        ref = self.obj.relationship(parts[0])
        if ref is None or ref.reference_to is None:
            raise SoqlError(
                "INVALID_FIELD",
                f"Didn't understand relationship '{parts[0]}' in field path. If you are "
                "attempting to use a custom relationship, be sure to append the '__r' after "
                "the custom relationship name.",
            )
        parent = OBJECTS[ref.reference_to]
        fdef = parent.field(parts[1])
        if fdef is None:
            raise _no_column(parts[1], parent.name)
        rel = ref.relationship_name or ref.name
        if rel.lower() not in self.joins:
            self.joins[rel.lower()] = (f"p{len(self.joins)}", ref, parent)
        alias = self.joins[rel.lower()][0]
        return f'{alias}."{fdef.name}"', fdef, rel, parent

    def literal(self, fdef: FieldDef, value: Value) -> Any:
        kind = value.kind
        ok = {
            "boolean": fdef.type == "boolean",
            "number": fdef.type in NUMBER_TYPES,
            "string": fdef.type in TEXT_TYPES | ID_TYPES,
            "datetime": fdef.type == "datetime",
            "date": fdef.type == "date",
        }.get(kind, True)
        if not ok:
            expected = {"datetime": "dateTime", "date": "date"}.get(fdef.type, fdef.type)
            raise SoqlError(
                "INVALID_QUERY_FILTER_OPERATOR",
                f"value of filter criterion for field '{fdef.name}' must be of type {expected} "
                "and should not be enclosed in quotes"
                if fdef.type in ("date", "datetime", "boolean") or fdef.type in NUMBER_TYPES
                else f"value of filter criterion for field '{fdef.name}' must be of type "
                f"{expected} and should be enclosed in quotes",
            )
        if kind == "boolean":
            return int(value.value)
        if kind == "datetime":
            return format_datetime(value.value)
        if kind == "date":
            return value.value.isoformat()
        if kind == "string" and fdef.type in ID_TYPES:
            try:
                return normalize_id(value.value)
            except InvalidId:
                raise SoqlError(
                    "INVALID_QUERY_FILTER_OPERATOR", f"invalid ID field: {value.value}"
                ) from None
        return value.value

    def bound(self, fdef: FieldDef, day: date) -> str:
        if fdef.type == "datetime":
            return format_datetime(datetime.combine(day, time(), tzinfo=UTC))
        return day.isoformat()

    def condition(self, expr: Expr) -> str:
        if isinstance(expr, And | Or):
            joiner = " AND " if isinstance(expr, And) else " OR "
            return "(" + joiner.join(self.condition(item) for item in expr.items) + ")"
        if isinstance(expr, Not):
            return f"(NOT {self.condition(expr.item)})"
        return self.comparison(expr)

    def comparison(self, cmp: Comparison) -> str:
        column, fdef, _, _ = self.resolve(cmp.field)
        collate = " COLLATE NOCASE" if fdef.type in TEXT_TYPES else ""
        if cmp.op in ("IN", "NOT IN"):
            assert isinstance(cmp.value, tuple)  # noqa: S101 - parser guarantees it
            values = [self.literal(fdef, v) for v in cmp.value if v.kind != "null"]
            self.params.extend(values)
            marks = ", ".join("?" for _ in values) or "NULL"
            if cmp.op == "IN":
                return f"({column}{collate} IN ({marks}))"
            return f"({column} IS NULL OR {column}{collate} NOT IN ({marks}))"
        assert isinstance(cmp.value, Value)  # noqa: S101 - parser guarantees it
        value = cmp.value
        if cmp.op == "LIKE":
            if fdef.type not in TEXT_TYPES | ID_TYPES:
                raise SoqlError(
                    "INVALID_QUERY_FILTER_OPERATOR",
                    f"invalid operator on {fdef.type} field: LIKE ({fdef.name})",
                )
            self.params.append(value.value)
            return f"({column} LIKE ? ESCAPE '\\')"
        if value.kind == "null":
            if cmp.op not in ("=", "!="):
                raise SoqlError("MALFORMED_QUERY", "null can only be compared with = or !=")
            return f"({column} IS {'' if cmp.op == '=' else 'NOT '}NULL)"
        if value.kind == "date_literal":
            if fdef.type not in ("date", "datetime"):
                raise SoqlError(
                    "INVALID_QUERY_FILTER_OPERATOR",
                    f"date literal on a field of type {fdef.type}: {fdef.name}",
                )
            name, amount = value.value
            start, end = date_literal_range(name, amount, self.today)
            low, high = self.bound(fdef, start), self.bound(fdef, end)
            sql = {
                "=": f"({column} >= ? AND {column} < ?)",
                "!=": f"({column} IS NULL OR {column} < ? OR {column} >= ?)",
                "<": f"({column} < ?)",
                "<=": f"({column} < ?)",
                ">": f"({column} >= ?)",
                ">=": f"({column} >= ?)",
            }[cmp.op]
            picks = {"=": [low, high], "!=": [low, high], "<": [low], "<=": [high],
                     ">": [high], ">=": [low]}[cmp.op]  # fmt: skip
            self.params.extend(picks)
            return sql
        self.params.append(self.literal(fdef, value))
        if cmp.op == "!=":
            return f"({column} IS NULL OR {column}{collate} != ?)"
        return f"({column}{collate} {cmp.op} ?)"


def _no_column(name: str, object_name: str) -> SoqlError:
    return SoqlError(
        "INVALID_FIELD",
        f"No such column '{name}' on entity '{object_name}'. If you are attempting to use a "
        "custom field, be sure to append the '__c' after the custom field name. Please "
        "reference your WSDL or the describe call for the appropriate names.",
    )


def compile_query(query: Query, *, today: date, include_deleted: bool = False) -> CompiledQuery:
    """Compile a parsed query into SQLite SQL over the object tables.

    Raises:
        SoqlError: INVALID_TYPE (unknown object), INVALID_FIELD, INVALID_QUERY_FILTER_OPERATOR.
    """
    obj = find_object(query.sobject)
    if obj is None:
        raise SoqlError(
            "INVALID_TYPE",
            f"sObject type '{query.sobject}' is not supported. If you are attempting to use a "
            "custom object, be sure to append the '__c' after the entity name.",
        )
    compiler = _Compiler(obj, today)
    columns: list[Column] = []
    select = ['t."Id"']
    seen: set[str] = set()
    for path in query.fields:
        if path.lower() in seen:
            raise SoqlError("MALFORMED_QUERY", f"duplicate field selected: {path}")
        seen.add(path.lower())
        expr, fdef, rel, parent = compiler.resolve(path)
        columns.append(Column(path, fdef, rel, parent))
        select.append(expr)
    where = [] if include_deleted else ['t."IsDeleted" = 0']
    if query.where is not None:
        where.append(compiler.condition(query.where))
    order = []
    for key in query.order_by:
        expr, fdef, _, _ = compiler.resolve(key.field)
        collate = " COLLATE NOCASE" if fdef.type in TEXT_TYPES else ""
        nulls = (
            "" if key.nulls_last is None else (" NULLS LAST" if key.nulls_last else " NULLS FIRST")
        )
        order.append(f"{expr}{collate} {'DESC' if key.descending else 'ASC'}{nulls}")
    select.extend(f'{alias}."Id"' for alias, _, _ in compiler.joins.values())
    joins = "".join(
        f' LEFT JOIN "{parent.name}" {alias} ON {alias}."Id" = t."{ref.name}" '
        f'AND {alias}."IsDeleted" = 0'
        for alias, ref, parent in compiler.joins.values()
    )
    # Identifiers come from the object definitions only; every value is a bound parameter.
    sql = "SELECT " + ", ".join(select) + f' FROM "{obj.name}" t{joins}'  # noqa: S608
    if where:
        sql += " WHERE " + " AND ".join(where)
    if order:
        sql += " ORDER BY " + ", ".join(order)
    if query.limit is not None or query.offset:
        limit = -1 if query.limit is None else int(query.limit)
        sql += f" LIMIT {limit} OFFSET {int(query.offset or 0)}"
    if query.count:
        sql = f"SELECT COUNT(*) FROM ({sql})"  # noqa: S608 - see above
    relationships = [ref.relationship_name or ref.name for _, ref, _ in compiler.joins.values()]
    return CompiledQuery(obj, columns, sql, compiler.params, query.count, relationships)
