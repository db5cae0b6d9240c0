"""A small Odoo-like ORM over SQLite: search, read, create, write, unlink for the MODELS registry.

Every write stamps `write_date` (UTC, `YYYY-MM-DD HH:MM:SS`, the sandbox clock) and `write_uid`,
and is logged as an effect with the record's external ref as key. Business rules plug in through
`Env.hooks` (after create/write) and `Env.guards` (before unlink).
"""

import itertools
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from deploy.sandbox.clock import SandboxClock
from deploy.sandbox.erp.domain import DomainError, Leaf, compile_domain, leaf_sql, normalize_value
from deploy.sandbox.erp.domain import parse as parse_domain
from deploy.sandbox.erp.errors import InvalidCall, MissingError, ValidationError
from deploy.sandbox.erp.models import MAGIC, MODELS, Field, Model, table_of
from deploy.sandbox.store import SandboxStore

__all__ = ["EXTERNAL_REFS", "Env", "Hook", "odoo_datetime"]

# The field a connector finds a record by (search-then-create/write); logged as the effect key.
EXTERNAL_REFS = {
    "res.partner": "ref", "sale.order": "client_order_ref", "product.template": "default_code",
    "product.product": "default_code", "hr.leave": "x_external_ref", "hr.employee": "barcode",
    "mrp.production": "origin", "stock.picking": "origin", "account.move": "invoice_origin",
}  # fmt: skip
# Non-stored fields computed in SQL ({a} is the row's table alias): readable and searchable.
_COMPUTED = {
    ("product.product", "qty_available"): (
        "(SELECT COALESCE(SUM(q.quantity), 0) FROM stock_quant q JOIN stock_location l "
        "ON l.id = q.location_id WHERE q.product_id = {a}.id AND l.usage = 'internal')"
    ),
}
_ALIASED = {("product.product", "lst_price"): "list_price"}
_SQL_TYPES = {"integer": "INTEGER", "many2one": "INTEGER", "boolean": "INTEGER", "float": "REAL"}
Hook = Callable[["Env", str, list[int], dict[str, Any], bool], None]


def odoo_datetime(value: Any) -> str:
    """Format a datetime the way Odoo sends it: `YYYY-MM-DD HH:MM:SS` (UTC, seconds)."""
    return str(value.strftime("%Y-%m-%d %H:%M:%S"))


def _model(name: str) -> Model:
    try:
        return MODELS[name]
    except KeyError:
        raise InvalidCall(
            f"Object {name} doesn't exist", name="builtins.KeyError", status=404
        ) from None


class Env:
    """One call's view of the database: who acts (`uid`, `login`) and when (`clock`)."""

    def __init__(self, store: SandboxStore, clock: SandboxClock, *, uid: int, login: str) -> None:
        self.store = store
        self.clock = clock
        self.uid = uid
        self.login = login
        self.hooks: dict[str, list[Hook]] = {}
        self.guards: dict[str, list[Callable[[Env, list[int]], None]]] = {}
        self.context: dict[str, Any] = {}
        self._aliases = itertools.count()

    def sudo(self, uid: int = 1, login: str = "__system__") -> "Env":
        """Return an Env acting as another user, sharing hooks (the engine acts as OdooBot)."""
        env = Env(self.store, self.clock, uid=uid, login=login)
        env.hooks, env.guards = self.hooks, self.guards
        return env

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
                if fld.stored and (model.name, name) not in _COMPUTED | _ALIASED:
                    cols.append(f'"{name}" {_SQL_TYPES.get(fld.type, "TEXT")}')
            store.db.execute(
                f"CREATE TABLE IF NOT EXISTS {table_of(model.name)} ({', '.join(cols)})"
            )

    def field(self, model: str, name: str) -> tuple[Field, str | None]:
        """Return a field and, when inherited (`_inherits`), the parent model holding it."""
        spec = _model(model)
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
        spec = _model(model)
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
        if (model, name) in _COMPUTED:
            return _COMPUTED[(model, name)].format(a=alias)
        if (model, name) in _ALIASED:
            return self.column(model, _ALIASED[(model, name)], alias)
        if parent is not None:
            sub = f"p{next(self._aliases)}"
            link = _model(model).inherits[parent]
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
            return f"(CASE WHEN {code} IS NOT NULL AND {code} != '' THEN '[' || {code} || '] ' || {name} ELSE {name} END)"
        rec = _model(model).rec_name
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
            return (
                f"{self.column(model, head, alias)} IN (SELECT {sub}.id FROM {table} {sub} WHERE {sql})",
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
        for term in (order or _model(model).order).split(","):
            words = term.split()
            if not words:
                continue
            direction = words[1].upper() if len(words) > 1 else "ASC"
            if direction not in ("ASC", "DESC") or len(words) > 4:
                raise InvalidCall(f"Invalid order {order!r}")
            terms.append(f"{self.column(model, words[0], 't')} {direction}")
        return ", ".join([*terms, "t.id"])

    def search(
        self, model: str, domain: Any = None, *, offset: int = 0, limit: int | None = None,
        order: str | None = None, active_test: bool = True,
    ) -> list[int]:  # fmt: skip
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
        self, model: str, ids: Iterable[int], fields: list[str] | None = None,
        *, load: str | None = "_classic_read",
    ) -> list[dict[str, Any]]:  # fmt: skip
        """Return the records as Odoo does: unset values are False, many2one is `[id, name]`."""
        ids = [int(i) for i in ids]
        names = [f for f in (fields or list(self.all_fields(model))) if f != "id"]
        specs = {name: self.field(model, name)[0] for name in names}
        flat = [n for n in names if specs[n].type != "one2many"]
        cols = ", ".join(["t.id", *(self.column(model, n, "t") for n in flat)])
        marks = ", ".join("?" * len(ids))
        found = {row[0]: row for row in self.store.db.execute(
            f"SELECT {cols} FROM {table_of(model)} t WHERE t.id IN ({marks})", ids)}  # fmt: skip
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

    # -- write ----------------------------------------------------------------------------------
    def _column_value(self, model: str, name: str, fld: Field, value: Any) -> Any:
        if fld.type == "selection" and value not in (False, None):
            if value not in {key for key, _ in fld.selection}:
                raise ValidationError(f"Wrong value for {model}.{name}: {value!r}")
        if fld.type == "many2one" and value not in (False, None) and fld.relation:
            if not self.exists(fld.relation, [value]):
                raise ValidationError(
                    f"The operation cannot be completed: {fld.relation}({value},) does not exist "
                    f"(field {name} of {model})."
                )
        if fld.type == "monetary" and value not in (False, None):
            return str(Decimal(str(value)).quantize(Decimal("0.01")))
        if fld.type in ("char", "text", "selection") and value is not False and value is not None:
            return str(value)
        return normalize_value(fld.type, value)

    def _split(
        self, model: str, vals: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, dict[str, Any]], dict[str, Any]]:
        own: dict[str, Any] = {}
        parents: dict[str, dict[str, Any]] = {}
        children: dict[str, Any] = {}
        for name, value in vals.items():
            fld, parent = self.field(model, name)
            if name in ("id", "display_name") or name in MAGIC or (model, name) in _COMPUTED:
                raise InvalidCall(f"Field {name!r} of {model!r} is not writable")
            if (model, name) in _ALIASED:
                name, parent = _ALIASED[(model, name)], next(iter(_model(model).inherits))
            if parent is not None:
                parents.setdefault(parent, {})[name] = value
            elif fld.type == "one2many":
                children[name] = value
            else:
                own[name] = self._column_value(model, name, fld, value)
        return own, parents, children

    def create(self, model: str, vals: dict[str, Any]) -> int:
        """Create one record (with `_inherits` parent and one2many commands) and return its id."""
        spec = _model(model)
        own, parents, children = self._split(model, dict(vals))
        for parent, link in spec.inherits.items():
            if link not in own:
                self.context["inherits_child"] = model
                try:
                    own[link] = self.create(parent, parents.pop(parent, {}))
                finally:
                    self.context.pop("inherits_child", None)
            elif parents.get(parent):
                self.write(parent, [own[link]], parents.pop(parent))
        for name, fld in spec.fields.items():
            if (
                name not in own
                and fld.stored
                and fld.default is not None
                and (model, name) not in _COMPUTED | _ALIASED
            ):
                own[name] = self._column_value(model, name, fld, fld.default)
        if spec.sequence and not own.get("name"):
            own["name"] = self._next_name(spec)
        missing = [
            n
            for n, f in spec.fields.items()
            if f.required and f.stored and own.get(n) in (None, "")
        ]
        if missing:
            raise ValidationError(f"Missing required fields on {model}: {', '.join(missing)}")
        now = self.now()
        own.update(create_date=now, write_date=now, create_uid=self.uid, write_uid=self.uid)
        cols = ", ".join(f'"{c}"' for c in own)
        cur = self.store.db.execute(
            f"INSERT INTO {table_of(model)} ({cols}) VALUES ({', '.join('?' * len(own))})",
            list(own.values()),
        )
        rid = int(cur.lastrowid or 0)
        self._apply_commands(model, rid, children)
        self._after(model, [rid], dict(vals), created=True)
        return rid

    def write(self, model: str, ids: list[int], vals: dict[str, Any]) -> None:
        """Update records; stamps write_date/write_uid even when values are unchanged."""
        ids = [int(i) for i in ids]
        self.read(model, ids, ["id"])  # MissingError for unknown ids
        own, parents, children = self._split(model, dict(vals))
        for parent, pvals in parents.items():
            link = _model(model).inherits[parent]
            parent_ids = [r[link] for r in self.read(model, ids, [link], load=None)]
            self.write(parent, parent_ids, pvals)
        own.update(write_date=self.now(), write_uid=self.uid)
        assignments = ", ".join(f'"{c}" = ?' for c in own)
        self.store.db.execute(
            f"UPDATE {table_of(model)} SET {assignments} WHERE id IN ({', '.join('?' * len(ids))})",
            [*own.values(), *ids],
        )
        for rid in ids:
            self._apply_commands(model, rid, children)
        self._after(model, ids, dict(vals), created=False)

    def unlink(self, model: str, ids: list[int]) -> None:
        """Delete records (and their one2many children)."""
        ids = [int(i) for i in ids]
        self.read(model, ids, ["id"])
        for guard in self.guards.get(model, []):
            guard(self, ids)
        for fld in _model(model).fields.values():
            if fld.type == "one2many" and fld.relation and fld.relation.endswith((".line", "line")):
                for rid in ids:
                    children = self._children(fld, rid)
                    if children:
                        self.unlink(fld.relation, children)
        for rid in ids:
            self._effect("unlink", model, rid, {})
        self.store.db.execute(
            f"DELETE FROM {table_of(model)} WHERE id IN ({', '.join('?' * len(ids))})", ids
        )

    def _apply_commands(self, model: str, rid: int, children: dict[str, Any]) -> None:
        for name, commands in children.items():
            fld = _model(model).fields[name]
            assert fld.relation is not None and fld.inverse is not None  # noqa: S101 - registry invariant
            for command in commands or []:
                code = command[0]
                if code == 0:
                    self.create(fld.relation, {**command[2], fld.inverse: rid})
                elif code == 1:
                    self.write(fld.relation, [command[1]], command[2])
                elif code in (2, 3):
                    self.unlink(fld.relation, [command[1]])
                elif code == 5:
                    self.unlink(fld.relation, self._children(fld, rid))
                elif code in (4, 6):
                    targets = [command[1]] if code == 4 else list(command[2])
                    if code == 6:
                        stale = [c for c in self._children(fld, rid) if c not in targets]
                        if stale:
                            self.unlink(fld.relation, stale)
                    if targets:
                        self.write(fld.relation, targets, {fld.inverse: rid})
                else:
                    raise InvalidCall(f"Unknown x2many command {command!r} for {model}.{name}")

    def _after(self, model: str, ids: list[int], vals: dict[str, Any], *, created: bool) -> None:
        for hook in self.hooks.get(model, []):
            hook(self, model, ids, vals, created)
        for rid in ids:
            self._effect("create" if created else "write", model, rid, vals)

    def _effect(self, action: str, model: str, rid: int, detail: dict[str, Any]) -> None:
        ref_field = EXTERNAL_REFS.get(model)
        key = None
        if ref_field:
            row = self.store.db.execute(
                f"SELECT {self.column(model, ref_field, 't')} FROM {table_of(model)} t WHERE t.id = ?",
                [rid],
            ).fetchone()
            key = row[0] if row else None
        self.store.record_effect(
            action=action, object_name=model, record_id=str(rid), key=key, client=self.login,
            detail={"vals": detail, "uid": self.uid, "at": self.now()},
        )  # fmt: skip

    def _next_name(self, spec: Model) -> str:
        prefix = spec.sequence or ""
        if spec.name == "account.move":
            prefix = f"INV/{self.clock.now().year}/"
        count = self.store.db.execute(f"SELECT COUNT(*) FROM {table_of(spec.name)}").fetchone()[0]
        return f"{prefix}{int(count) + 1:05d}"

    def log(self, action: str, model: str, ids: list[int], detail: dict[str, Any]) -> None:
        """Record a business action (e.g. `action_confirm`) as an effect per record."""
        for rid in ids:
            self._effect(action, model, rid, detail)


def _is_text(value: Any) -> bool:
    if isinstance(value, str):
        return True
    return (
        isinstance(value, list | tuple) and bool(value) and all(isinstance(v, str) for v in value)
    )
