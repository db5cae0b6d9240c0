"""Record storage of the sandbox CRM: one SQLite table per sObject, writes with Salesforce rules.

Table and column names come from OBJECTS only; values are always bound parameters.
Every write stamps `LastModifiedDate`/`SystemModstamp` (UTC ms), `LastModifiedById` (the token's
user) and `bizbus_LastChangeClient__c` (the `Sforce-Call-Options` client) and is logged as an
effect and, with a `ChangeLog`, as a change event. Derived fields (Order.TotalAmount,
OrderNumber, OrderItem.TotalPrice) follow each write.
"""

from dataclasses import dataclass
from typing import Any

from bizbus.deploy.sandbox.crm.changes import ChangeLog
from bizbus.deploy.sandbox.crm.errors import SalesforceError
from bizbus.deploy.sandbox.crm.ids import make_id
from bizbus.deploy.sandbox.crm.objects import CHANGE_CLIENT_FIELD, OBJECTS, ObjectDef
from bizbus.deploy.sandbox.crm.values import from_db, to_db
from bizbus.deploy.sandbox.store import SandboxStore

__all__ = ["Actor", "RecordStore", "attributes", "create_schema", "not_found"]

# Ids look like ids minted on a busy org rather than 000000001.
_ID_BASE = 3_000_000
_ORDER_NUMBER_BASE = 100


@dataclass(frozen=True)
class Actor:
    """Who writes: the token's user id and the `Sforce-Call-Options` client (if any)."""

    user_id: str
    client: str | None = None


def create_schema(store: SandboxStore) -> None:
    """Create the tables (idempotent)."""
    statements = [
        "CREATE TABLE IF NOT EXISTS _sequences (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
        "CREATE TABLE IF NOT EXISTS _tokens (token TEXT PRIMARY KEY, user_id TEXT NOT NULL, "
        "client_id TEXT NOT NULL, issued_at TEXT NOT NULL)",
    ]
    for obj in OBJECTS.values():
        columns = ", ".join(
            f'"{f.name}" {f.sql_type}' + (" PRIMARY KEY" if f.name == "Id" else "")
            for f in obj.fields
        )
        statements.append(f'CREATE TABLE IF NOT EXISTS "{obj.name}" ({columns})')
        indexed = ["SystemModstamp"] + [
            f.name for f in obj.fields if f.external_id or f.type == "reference"
        ]
        statements.extend(
            f'CREATE INDEX IF NOT EXISTS "ix_{obj.name}_{name}" ON "{obj.name}" ("{name}")'
            for name in indexed
        )
    for statement in statements:
        store.db.execute(statement)


class RecordStore:
    """Reads and writes sObject records in a SandboxStore, enforcing Salesforce's field rules."""

    def __init__(self, store: SandboxStore, changes: ChangeLog | None = None) -> None:
        self.store = store
        self.changes = changes

    def log_change(
        self, obj: ObjectDef, record_id: str, change_type: str, values: dict[str, Any],
        changed: list[str], actor: Actor, now: str,
    ) -> None:  # fmt: skip
        """Log a change event of one record (when Change Data Capture is on)."""
        if self.changes is not None:
            self.changes.record(
                obj, [record_id], change_type, values, changed=changed,
                user_id=actor.user_id, client=actor.client, now=now,
            )  # fmt: skip

    def next_number(self, name: str) -> int:
        """Return the next value of a named counter (ids, auto-numbers)."""
        row = self.store.db.execute(
            "INSERT INTO _sequences (name, value) VALUES (?, 1) "
            "ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value",
            (name,),
        ).fetchone()
        return int(row[0])

    def new_id(self, obj: ObjectDef) -> str:
        """Return a fresh 18-character id for `obj`."""
        return make_id(obj.key_prefix, _ID_BASE + self.next_number(f"id:{obj.name}"))

    def row(self, obj: ObjectDef, record_id: str) -> dict[str, Any] | None:
        """Return the stored row of a record (deleted ones too), or None."""
        rows = self.store.query(f'SELECT * FROM "{obj.name}" WHERE "Id" = ?', (record_id,))  # noqa: S608 - names from OBJECTS
        return rows[0] if rows else None

    def find(self, obj: ObjectDef, field_name: str, value: Any) -> list[str]:
        """Return the ids of live records whose field equals value (case-insensitive text)."""
        rows = self.store.query(
            f'SELECT "Id" FROM "{obj.name}" WHERE "{field_name}" = ? COLLATE NOCASE '  # noqa: S608 - names from OBJECTS
            'AND "IsDeleted" = 0 ORDER BY "CreatedDate", "Id"',
            (value,),
        )
        return [row["Id"] for row in rows]

    def to_json(self, obj: ObjectDef, row: dict[str, Any], version: str) -> dict[str, Any]:
        """Return a record as the REST API shows it, `attributes` first."""
        out: dict[str, Any] = {"attributes": attributes(obj.name, row["Id"], version)}
        for fdef in obj.fields:
            out[fdef.name] = from_db(fdef, row.get(fdef.name))
        return out

    def convert(self, obj: ObjectDef, body: dict[str, Any], *, creating: bool) -> dict[str, Any]:
        """Validate a request body and return {field name: stored value}.

        Raises:
            SalesforceError: INVALID_FIELD, INVALID_FIELD_FOR_INSERT_UPDATE, type errors,
                INVALID_CROSS_REFERENCE_KEY for references to missing records.
        """
        values: dict[str, Any] = {}
        locked: list[str] = []
        for name, raw in body.items():
            if name == "attributes":
                continue
            fdef = obj.field(name)
            if fdef is None:
                raise SalesforceError(
                    400,
                    "INVALID_FIELD",
                    f"No such column '{name}' on sobject of type {obj.name}",
                    [name],
                )
            if not (fdef.createable if creating else fdef.updateable):
                locked.append(fdef.name)
                continue
            values[fdef.name] = to_db(fdef, raw)
            if fdef.reference_to and values[fdef.name] is not None:
                target = OBJECTS[fdef.reference_to]
                parent = self.row(target, values[fdef.name])
                if parent is None or parent["IsDeleted"]:
                    raise SalesforceError(
                        400,
                        "INVALID_CROSS_REFERENCE_KEY",
                        f"invalid cross reference id: {raw}",
                        [fdef.name],
                    )
        if locked:
            raise SalesforceError(
                400,
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(locked)}. Please check the security "
                "settings of this field and verify that it is read/write for your profile or "
                "permission set.",
                locked,
            )
        return values

    def _check_unique(self, obj: ObjectDef, values: dict[str, Any], own_id: str | None) -> None:
        for fdef in obj.fields:
            value = values.get(fdef.name)
            if not fdef.unique or value is None:
                continue
            clash = [rid for rid in self.find(obj, fdef.name, value) if rid != own_id]
            if clash:
                raise SalesforceError(
                    400,
                    "DUPLICATE_VALUE",
                    f"duplicate value found: {fdef.name} duplicates value on record with id: "
                    f"{clash[0]}",
                    [fdef.name],
                )

    def insert(self, obj: ObjectDef, values: dict[str, Any], actor: Actor, now: str) -> str:
        """Insert a validated record (inside the caller's transaction) and return its id."""
        for fdef in obj.fields:
            if values.get(fdef.name) is None and fdef.default is not None:
                values[fdef.name] = to_db(fdef, fdef.default)
        _derive(self, obj, values)
        _require_fields(obj, values)
        self._check_unique(obj, values, None)
        record_id = self.new_id(obj)
        values.update(
            Id=record_id, IsDeleted=0, CreatedDate=now, CreatedById=actor.user_id,
            LastModifiedDate=now, LastModifiedById=actor.user_id, SystemModstamp=now,
        )  # fmt: skip
        values[CHANGE_CLIENT_FIELD] = actor.client
        if obj.name == "Order":
            values["OrderNumber"] = f"{_ORDER_NUMBER_BASE + self.next_number('Order#') - 1:08d}"
            values["TotalAmount"] = 0.0
        if obj.name == "OrderItem":
            values["OrderItemNumber"] = f"{self.next_number('OrderItem#'):010d}"
        names = ", ".join(f'"{name}"' for name in values)
        marks = ", ".join("?" for _ in values)
        self.store.db.execute(
            f'INSERT INTO "{obj.name}" ({names}) VALUES ({marks})',  # noqa: S608 - names from OBJECTS
            tuple(values.values()),
        )
        set_fields = [name for name, value in values.items() if value is not None]
        self.log_change(obj, record_id, "CREATE", values, set_fields, actor, now)
        _after_write(self, obj, values, actor, now)
        return record_id

    def update(
        self, obj: ObjectDef, record_id: str, values: dict[str, Any], actor: Actor, now: str
    ) -> None:
        """Update a validated record (inside the caller's transaction)."""
        current = self.row(obj, record_id)
        if current is None or current["IsDeleted"]:
            raise not_found()
        merged = {**current, **values}
        _derive(self, obj, merged)
        _require_fields(obj, merged)
        self._check_unique(obj, values, record_id)
        changes = {k: merged[k] for k in merged if merged[k] != current.get(k)}
        changes.update(LastModifiedDate=now, LastModifiedById=actor.user_id, SystemModstamp=now)
        changes[CHANGE_CLIENT_FIELD] = actor.client
        sets = ", ".join(f'"{name}" = ?' for name in changes)
        self.store.db.execute(
            f'UPDATE "{obj.name}" SET {sets} WHERE "Id" = ?',  # noqa: S608 - names from OBJECTS
            (*changes.values(), record_id),
        )
        self.log_change(obj, record_id, "UPDATE", merged, list(changes), actor, now)
        _after_write(self, obj, merged, actor, now)

    def delete(self, obj: ObjectDef, record_id: str, actor: Actor, now: str) -> None:
        """Soft-delete a record (queryAll still sees it, with IsDeleted = true)."""
        current = self.row(obj, record_id)
        if current is None:
            raise not_found()
        if current["IsDeleted"]:
            raise SalesforceError(404, "ENTITY_IS_DELETED", "entity is deleted")
        self.store.db.execute(
            f'UPDATE "{obj.name}" SET "IsDeleted" = 1, "SystemModstamp" = ?, '  # noqa: S608 - names from OBJECTS
            f'"LastModifiedDate" = ?, "LastModifiedById" = ?, "{CHANGE_CLIENT_FIELD}" = ? '
            'WHERE "Id" = ?',
            (now, now, actor.user_id, actor.client, record_id),
        )
        if obj.name == "Order":
            self.store.db.execute(
                'UPDATE "OrderItem" SET "IsDeleted" = 1, "SystemModstamp" = ? WHERE "OrderId" = ?',
                (now, record_id),
            )
        self.log_change(obj, record_id, "DELETE", {}, [], actor, now)
        _after_write(self, obj, current, actor, now)


def attributes(object_name: str, record_id: str, version: str) -> dict[str, str]:
    """Return the `attributes` member of a record."""
    return {
        "type": object_name,
        "url": f"/services/data/v{version}/sobjects/{object_name}/{record_id}",
    }


def not_found() -> SalesforceError:
    """Return the 404 Salesforce sends for a missing record."""
    return SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")


def _derive(records: RecordStore, obj: ObjectDef, values: dict[str, Any]) -> None:
    """Fill the fields Salesforce computes from others on the same or a parent record."""
    if obj.name in ("Lead", "User"):
        first, last = values.get("FirstName") or "", values.get("LastName") or ""
        cjk = any("\u4e00" <= char <= "\u9fff" for char in first + last)
        values["Name"] = f"{last}{first}" if cjk else f"{first} {last}".strip()
    elif obj.name == "PricebookEntry" and values.get("Product2Id"):
        product = records.row(OBJECTS["Product2"], values["Product2Id"]) or {}
        values["Name"], values["ProductCode"] = product.get("Name"), product.get("ProductCode")
    elif obj.name == "OrderItem":
        entry = records.row(OBJECTS["PricebookEntry"], values.get("PricebookEntryId") or "")
        if entry is not None:
            values["Product2Id"] = values.get("Product2Id") or entry["Product2Id"]
            values["ListPrice"] = entry["UnitPrice"]
        if values.get("Quantity") is not None and values.get("UnitPrice") is not None:
            values["TotalPrice"] = round(float(values["Quantity"]) * values["UnitPrice"], 2)


def _after_write(
    records: RecordStore, obj: ObjectDef, values: dict[str, Any], actor: Actor, now: str
) -> None:
    """Roll OrderItem totals up into Order.TotalAmount (bumping the order's SystemModstamp)."""
    if obj.name != "OrderItem" or not values.get("OrderId"):
        return
    records.store.db.execute(
        'UPDATE "Order" SET "TotalAmount" = (SELECT ROUND(COALESCE(SUM("TotalPrice"), 0), 2) '
        'FROM "OrderItem" WHERE "OrderId" = ? AND "IsDeleted" = 0), "SystemModstamp" = ? '
        'WHERE "Id" = ?',
        (values["OrderId"], now, values["OrderId"]),
    )
    order = records.row(OBJECTS["Order"], values["OrderId"])
    if order is not None:  # the roll-up is an update of the order, with its own change event
        records.log_change(OBJECTS["Order"], order["Id"], "UPDATE", order, ["TotalAmount"],
                         actor, now)  # fmt: skip


def _require_fields(obj: ObjectDef, values: dict[str, Any]) -> None:
    """Refuse a record that leaves a required field empty, as Salesforce does."""
    missing = [f.name for f in obj.fields if f.required and values.get(f.name) in (None, "")]
    if missing:
        raise SalesforceError(
            400,
            "REQUIRED_FIELD_MISSING",
            f"Required fields are missing: [{', '.join(missing)}]",
            missing,
        )
