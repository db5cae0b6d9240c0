"""A small Odoo-like ORM over SQLite: search, read, create, write, unlink for the MODELS registry.

Every write stamps `write_date` (UTC, `YYYY-MM-DD HH:MM:SS`, the sandbox clock) and `write_uid`,
and is logged as an effect with the record's external ref as key. Business rules plug in through
`Env.hooks` (after create/write of a model), `Env.watchers` (after any create/write) and
`Env.guards` (before unlink); `Env.postcommit` runs once the caller's transaction committed.
"""

# ruff: noqa: S608 - table and column names come from the model registry; values are bound

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from bizbus.deploy.sandbox.clock import SandboxClock
from bizbus.deploy.sandbox.erp.domain import normalize_value
from bizbus.deploy.sandbox.erp.errors import InvalidCall, ValidationError
from bizbus.deploy.sandbox.erp.models import MAGIC, Field, Model, table_of
from bizbus.deploy.sandbox.erp.records import ALIASED, COMPUTED, Records, model_spec, odoo_datetime
from bizbus.deploy.sandbox.store import SandboxStore

__all__ = ["EXTERNAL_REFS", "Env", "Hook", "odoo_datetime"]

# The field a connector finds a record by (search-then-create/write); logged as the effect key.
EXTERNAL_REFS = {
    "res.partner": "ref",
    "sale.order": "client_order_ref",
    "product.template": "default_code",
    "product.product": "default_code",
    "hr.leave": "x_external_ref",
    "hr.employee": "barcode",
    "mrp.production": "origin",
    "stock.picking": "origin",
    "account.move": "invoice_origin",
}
Hook = Callable[["Env", str, list[int], dict[str, Any], bool], None]


class Env(Records):
    """Records plus writes, business-rule hooks and the effects log."""

    def __init__(self, store: SandboxStore, clock: SandboxClock, *, uid: int, login: str) -> None:
        super().__init__(store, clock, uid=uid, login=login)
        self.hooks: dict[str, list[Hook]] = {}
        self.guards: dict[str, list[Callable[[Env, list[int]], None]]] = {}
        self.watchers: list[Hook] = []  # run after every model's hooks (automation rules)
        self.postcommit: list[Callable[[], None]] = []  # run once the transaction committed

    def sudo(self, uid: int = 1, login: str = "__system__") -> "Env":
        """Return an Env acting as another user, sharing hooks (the engine acts as OdooBot)."""
        env = Env(self.store, self.clock, uid=uid, login=login)
        env.hooks, env.guards = self.hooks, self.guards
        env.watchers, env.postcommit = self.watchers, self.postcommit
        return env

    # -- write ----------------------------------------------------------------------------------
    def _column_value(self, model: str, name: str, fld: Field, value: Any) -> Any:
        unset = value is False or value is None
        if fld.type == "many2many":
            return json.dumps(self._many2many(model, name, fld, [] if unset else value))
        if fld.type == "selection" and not unset and value not in {k for k, _ in fld.selection}:
            raise ValidationError(f"Wrong value for {model}.{name}: {value!r}")
        if (
            fld.type == "many2one"
            and not unset
            and fld.relation
            and (not isinstance(value, int) or not self.exists(fld.relation, [value]))
        ):
            raise ValidationError(
                f"The operation cannot be completed: {fld.relation}({value},) does not exist "
                f"(field {name} of {model})."
            )
        if fld.type == "monetary" and value not in (False, None):
            return str(Decimal(str(value)).quantize(Decimal("0.01")))
        if fld.type in ("char", "text", "selection") and value is not False and value is not None:
            return str(value)
        return normalize_value(fld.type, value)

    def _many2many(self, model: str, name: str, fld: Field, value: Any) -> list[int]:
        """The ids a many2many value sets: `[(6, 0, ids)]`, `[(5,)]` or a plain list of ids."""
        ids: list[int] = []
        for command in value if isinstance(value, list | tuple) else [value]:
            if isinstance(command, int) and not isinstance(command, bool):
                ids.append(command)
            elif isinstance(command, list | tuple) and command and command[0] == 6:
                ids = [int(i) for i in command[2]]
            elif isinstance(command, list | tuple) and command and command[0] == 5:
                ids = []
            else:
                raise InvalidCall(
                    f"Unsupported many2many command {command!r} for {model}.{name} "
                    "(the sandbox takes (6, 0, ids), (5,) or a list of ids)"
                )
        if fld.relation and ids and len(self.exists(fld.relation, ids)) != len(set(ids)):
            raise ValidationError(f"{fld.relation}: some of {ids} do not exist ({model}.{name})")
        return ids

    def _split(
        self, model: str, vals: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, dict[str, Any]], dict[str, Any]]:
        own: dict[str, Any] = {}
        parents: dict[str, dict[str, Any]] = {}
        children: dict[str, Any] = {}
        for name, value in vals.items():
            fld, parent = self.field(model, name)
            if name in ("id", "display_name") or name in MAGIC or (model, name) in COMPUTED:
                raise InvalidCall(f"Field {name!r} of {model!r} is not writable")
            if (model, name) in ALIASED:
                name, parent = ALIASED[(model, name)], next(iter(model_spec(model).inherits))
            if parent is not None:
                parents.setdefault(parent, {})[name] = value
            elif fld.type == "one2many":
                children[name] = value
            else:
                own[name] = self._column_value(model, name, fld, value)
        return own, parents, children

    def create(self, model: str, vals: dict[str, Any]) -> int:
        """Create one record (with `_inherits` parent and one2many commands) and return its id."""
        spec = model_spec(model)
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
                and (model, name) not in COMPUTED | ALIASED
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
            link = model_spec(model).inherits[parent]
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
        for fld in model_spec(model).fields.values():
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
            fld = model_spec(model).fields[name]
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
        for hook in [*self.hooks.get(model, []), *self.watchers]:
            hook(self, model, ids, vals, created)
        for rid in ids:
            self._effect("create" if created else "write", model, rid, vals)

    def _effect(self, action: str, model: str, rid: int, detail: dict[str, Any]) -> None:
        ref_field = EXTERNAL_REFS.get(model)
        key = None
        if ref_field:
            expr = self.column(model, ref_field, "t")
            row = self.store.db.execute(
                f"SELECT {expr} FROM {table_of(model)} t WHERE t.id = ?", [rid]
            ).fetchone()
            key = row[0] if row else None
        self.store.record_effect(
            action=action,
            object_name=model,
            record_id=str(rid),
            key=key,
            client=self.login,
            detail={"vals": detail, "uid": self.uid, "at": self.now()},
        )

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
