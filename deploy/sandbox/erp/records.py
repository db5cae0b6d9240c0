"""Read side of the sandbox ORM: fields (own, `_inherits`, computed), search and read.

Domains compile to SQL; search is ordered and paged; reads are Odoo-shaped
(unset → False, many2one → `[id, display_name]`).
"""

# ruff: noqa: S608 - table and column names come from the model registry; values are bound

import itertools
import json
from collections.abc import Iterable
from typing import Any

from bizbus.deploy.sandbox.clock import SandboxClock
from bizbus.deploy.sandbox.erp.domain import DomainError, Leaf, compile_domain, leaf_sql
from bizbus.deploy.sandbox.erp.domain import parse as parse_domain
from bizbus.deploy.sandbox.erp.errors import InvalidCall, MissingError
from bizbus.deploy.sandbox.erp.models import MAGIC, MODELS, Field, Model, table_of
from bizbus.deploy.sandbox.store import SandboxStore

__all__ = ["ALIASED", "COMPUTED", "Records", "model_spec", "odoo_datetime"]

# Non-stored fields computed in SQL ({a} is the row's table alias): readable and searchable.
COMPUTED = {
    ("product.product", "qty_available"): (
        "(SELECT COALESCE(SUM(q.quantity), 0) FROM stock_quant q JOIN stock_location l "
        "ON l.id = q.location_id WHERE q.product_id = {a}.id AND l.usage = 'internal')"
    ),
    ("product.product", "free_qty"): (
        "(SELECT COALESCE(SUM(q.quantity - COALESCE(q.reserved_quantity, 0)), 0) "
        "FROM stock_quant q JOIN stock_location l ON l.id = q.location_id "
        "WHERE q.product_id = {a}.id AND l.usage = 'internal')"
    ),
    # What open manufacturing orders will add (Odoo also counts incoming receipts; none here).
    ("product.product", "incoming_qty"): (
        "(SELECT COALESCE(SUM(m.product_qty), 0) FROM mrp_production m WHERE m.product_id = "
        "{a}.id AND m.state IN ('confirmed', 'progress', 'to_close'))"
    ),
}
ALIASED = {("product.product", "lst_price"): "list_price"}
_SQL_TYPES = {"integer": "INTEGER", "many2one": "INTEGER", "boolean": "INTEGER", "float": "REAL"}


def odoo_datetime(value: Any) -> str:
    """Format a datetime the way Odoo sends it: `YYYY-MM-DD HH:MM:SS` (UTC, seconds)."""
    return str(value.strftime("%Y-%m-%d %H:%M:%S"))


def model_spec(name: str) -> Model:
    """Return a model's spec, or the error Odoo gives for an unknown model."""
    try:
        return MODELS[name]
    except KeyError:
        raise InvalidCall(
            f"Object {name} doesn't exist", name="builtins.KeyError", status=404
        ) from None


class Records:
    """Searching and reading records as one user (`uid`, `login`) at one sandbox time (`clock`)."""

    def __init__(self, store: SandboxStore, clock: SandboxClock, *, uid: int, login: str) -> None:
        self.store = store
        self.clock = clock
        self.uid = uid
        self.login = login
        self.context: dict[str, Any] = {}
        self._aliases = itertools.count()

    def now(self) -> str:
        """Return the sandbox time in Odoo's datetime format."""
        return odoo_datetime(self.clock.now())

    # -- schema ---------------------------------------------------------------------------------
    @staticmethod
    def create_tables(store: SandboxStore) -> None:
        """Create every model's table (idempotent)."""
        for model in MODELS.values():
            cols = ["id INTEGER PRIMARY KEY AUTOINCREMENT"]
            for name, fld in {**MAGIC, **model.fields}.items():
                if fld.stored and (model.name, name) not in COMPUTED | ALIASED:
                    cols.append(f'"{name}" {_SQL_TYPES.get(fld.type, "TEXT")}')
            store.db.execute(
                f"CREATE TABLE IF NOT EXISTS {table_of(model.name)} ({', '.join(cols)})"
            )

    def field(self, model: str, name: str) -> tuple[Field, str | None]:
        """Return a field and, when inherited (`_inherits`), the parent model holding it."""
        spec = model_spec(model)
        if name == "id":
            return Field("integer", "ID", readonly=True), None
        if name in spec.fields:
            return spec.fields[name], None
        if name in MAGIC:
            return MAGIC[name], None
        if name == "display_name":
            return Field("char", "Display Name", readonly=True), None
        for parent, _link in spec.inherits.items():
            if name in MODELS[parent].fields:
                return MODELS[parent].fields[name], parent
        raise InvalidCall(f"Invalid field {name!r} on model {model!r}")

    def all_fields(self, model: str) -> dict[str, Field]:
        """Return every readable field of a model (own, inherited, magic)."""
        spec = model_spec(model)
        out: dict[str, Field] = {"id": self.field(model, "id")[0]}
        for parent in spec.inherits:
            out.update(MODELS[parent].fields)
        out.update(spec.fields)
        out.update(MAGIC)
        out["display_name"] = self.field(model, "display_name")[0]
        return out

    def column(self, model: str, name: str, alias: str) -> str:
        """Return an SQL expression for a field of the row aliased `alias`."""
        fld, parent = self.field(model, name)
        if name == "display_name":
            return self._display_expr(model, alias)
        if (model, name) in COMPUTED:
            return COMPUTED[(model, name)].format(a=alias)
        if (model, name) in ALIASED:
            return self.column(model, ALIASED[(model, name)], alias)
        if parent is not None:
            sub = f"p{next(self._aliases)}"
            link = model_spec(model).inherits[parent]
            inner = self.column(parent, name, sub)
            return f"(SELECT {inner} FROM {table_of(parent)} {sub} WHERE {sub}.id = {alias}.{link})"
        if not fld.stored:
            raise InvalidCall(f"Field {name!r} of {model!r} cannot be used here")
        return f'{alias}."{name}"' if name != "id" else f"{alias}.id"

    def _display_expr(self, model: str, alias: str) -> str:
        if model == "product.product":
            code, name = (
                self.column(model, "default_code", alias),
                self.column(model, "name", alias),
            )
            return (
                f"(CASE WHEN {code} IS NOT NULL AND {code} != '' "
                f"THEN '[' || {code} || '] ' || {name} ELSE {name} END)"
            )
        rec = model_spec(model).rec_name
        if self.field(model, rec)[0].type == "many2one":
            return f"('{model},' || {alias}.id)"
        return self.column(model, rec, alias)

    # -- search ---------------------------------------------------------------------------------
    def _leaf(self, model: str, alias: str, leaf: Leaf) -> tuple[str, list[Any]]:
        head, _, rest = leaf.field.partition(".")
        fld, _parent = self.field(model, head)
        value = leaf.value
        if not rest and fld.type == "many2one" and _is_text(value):
            rest = "display_name"
        if fld.type == "one2many" or rest:
            if fld.relation is None:
                raise InvalidCall(f"Field {head!r} of {model!r} has no related model")
            sub = f"s{next(self._aliases)}"
            sql, params = self._leaf(fld.relation, sub, Leaf(rest or "id", leaf.operator, value))
            table = table_of(fld.relation)
            if fld.type == "one2many":
                return (
                    f'{alias}.id IN (SELECT {sub}."{fld.inverse}" FROM {table} {sub} WHERE {sql})',
                    params,
                )
            column = self.column(model, head, alias)
            return (
                f"{column} IN (SELECT {sub}.id FROM {table} {sub} WHERE {sql})",
                params,
            )
        return leaf_sql(self.column(model, head, alias), fld.type, leaf.operator, value)

    def where(self, model: str, domain: Any, alias: str = "t") -> tuple[str, list[Any]]:
        """Compile a domain to an SQL condition on rows aliased `alias`."""
        try:
            node = parse_domain(domain)
            return compile_domain(node, lambda leaf: self._leaf(model, alias, leaf))
        except DomainError as exc:
            raise InvalidCall(str(exc)) from None

    def _order(self, model: str, order: str | None) -> str:
        terms = []
        for term in (order or model_spec(model).order).split(","):
            words = term.split()
            if not words:
                continue
            direction = words[1].upper() if len(words) > 1 else "ASC"
            if direction not in ("ASC", "DESC") or len(words) > 4:
                raise InvalidCall(f"Invalid order {order!r}")
            terms.append(f"{self.column(model, words[0], 't')} {direction}")
        return ", ".join([*terms, "t.id"])

    def search(
        self,
        model: str,
        domain: Any = None,
        *,
        offset: int = 0,
        limit: int | None = None,
        order: str | None = None,
        active_test: bool = True,
    ) -> list[int]:
        """Return the ids matching `domain`, ordered, paged."""
        sql, params = self.where(model, self._active(model, domain, active_test))
        query = (
            f"SELECT t.id FROM {table_of(model)} t WHERE {sql} ORDER BY {self._order(model, order)}"
        )
        query += " LIMIT ? OFFSET ?"
        rows = self.store.db.execute(
            query, [*params, -1 if limit is None else int(limit), int(offset or 0)]
        )
        return [row[0] for row in rows]

    def search_count(self, model: str, domain: Any = None, *, active_test: bool = True) -> int:
        """Return how many records match `domain`."""
        sql, params = self.where(model, self._active(model, domain, active_test))
        row = self.store.db.execute(f"SELECT COUNT(*) FROM {table_of(model)} t WHERE {sql}", params)
        return int(row.fetchone()[0])

    def _active(self, model: str, domain: Any, active_test: bool) -> list[Any]:
        terms = list(domain or [])
        has_active = "active" in self.all_fields(model)
        mentions = any(isinstance(t, list | tuple) and t and t[0] == "active" for t in terms)
        if active_test and has_active and not mentions:
            return [("active", "=", True), *terms] if terms else [("active", "=", True)]
        return terms

    # -- read -----------------------------------------------------------------------------------
    def read(
        self,
        model: str,
        ids: Iterable[int],
        fields: list[str] | None = None,
        *,
        load: str | None = "_classic_read",
    ) -> list[dict[str, Any]]:
        """Return the records as Odoo does: unset values are False, many2one is `[id, name]`."""
        ids = [int(i) for i in ids]
        names = [f for f in (fields or list(self.all_fields(model))) if f != "id"]
        specs = {name: self.field(model, name)[0] for name in names}
        flat = [n for n in names if specs[n].type != "one2many"]
        cols = ", ".join(["t.id", *(self.column(model, n, "t") for n in flat)])
        marks = ", ".join("?" * len(ids))
        found = {
            row[0]: row
            for row in self.store.db.execute(
                f"SELECT {cols} FROM {table_of(model)} t WHERE t.id IN ({marks})", ids
            )
        }
        missing = [i for i in ids if i not in found]
        if missing:
            raise MissingError(
                "Record does not exist or has been deleted.\n"
                f"(Record: {model}({', '.join(map(str, missing))},), User: {self.uid})"
            )
        out = []
        for rid in ids:
            row = found[rid]
            rec: dict[str, Any] = {"id": rid}
            for pos, name in enumerate(flat, start=1):
                rec[name] = self._out(specs[name], row[pos], load)
            for name in names:
                if specs[name].type == "one2many":
                    rec[name] = self._children(specs[name], rid)
            out.append(rec)
        return out

    def _children(self, fld: Field, rid: int) -> list[int]:
        assert fld.relation is not None and fld.inverse is not None  # noqa: S101 - model registry invariant
        return self.search(fld.relation, [(fld.inverse, "=", rid)], active_test=False)

    def _out(self, fld: Field, value: Any, load: str | None) -> Any:
        if fld.type in ("float", "monetary"):
            return float(value or 0)
        if fld.type == "integer":
            return int(value or 0)
        if fld.type == "boolean":
            return bool(value)
        if fld.type == "many2many":
            return json.loads(value) if value else []
        if value is None:
            return False
        if fld.type == "many2one" and load == "_classic_read" and fld.relation:
            return [value, self.display_name(fld.relation, value)]
        return value

    def display_name(self, model: str, rid: int) -> str:
        """Return one record's display name."""
        row = self.store.db.execute(
            f"SELECT {self._display_expr(model, 't')} FROM {table_of(model)} t WHERE t.id = ?",
            [rid],
        ).fetchone()
        return str(row[0]) if row and row[0] is not None else f"{model},{rid}"

    def exists(self, model: str, ids: Iterable[int]) -> list[int]:
        """Return those of `ids` that exist."""
        ids = [int(i) for i in ids]
        rows = self.store.db.execute(
            f"SELECT id FROM {table_of(model)} WHERE id IN ({', '.join('?' * len(ids))})", ids
        )
        present = {r[0] for r in rows}
        return [i for i in ids if i in present]


def _is_text(value: Any) -> bool:
    if isinstance(value, str):
        return True
    return (
        isinstance(value, list | tuple) and bool(value) and all(isinstance(v, str) for v in value)
    )
