"""Odoo writes: find by a unique external reference, then create, or write only what changed.

A command applied twice has one effect: an unchanged record is not written (no ``write_date``
bump, so no echo), a confirmed order is not confirmed again nor given duplicate lines, a
refused leave is not refused again. Creates are never resent after a 5xx; re-applying the
whole command (search first) is the safe retry. Missing reference data is a MappingError.
"""

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from cachetools import LRUCache

from bizbus.connectors.base import ApplyResult, Outcome, SinkCommand
from bizbus.connectors.errors import MappingError, RejectedError, SchemaError
from bizbus.connectors.odoo.models import LINE_PRODUCT, RELATIONS, ModelSpec, Reference, spec_for
from bizbus.connectors.odoo.rpc import OdooRpc, odoo_datetime

__all__ = ["LinesLockedError", "Lookups", "apply_command", "order_lines", "same_value"]

_ALL = {"context": {"active_test": False}}
_DRAFT = ("draft", "sent")
_REFUSE = frozenset({"refuse", "refused", "cancel", "cancelled", "canceled", "revoked"})
_APPROVE = frozenset({"validate", "validated", "approved", "approve"})
_LINE_FIELDS = ("product_id", "product_uom_qty", "price_unit", "discount", "name")


class Lookups:
    """Ids of reference records (customers, products, employees) by key, kept in an LRU.

    Only found ids are cached: Odoo never reuses an id, and a missing record may appear later.

    Args:
        rpc: The Odoo client.
        size: Entries kept (0: no cache).
    """

    def __init__(self, rpc: OdooRpc, *, size: int = 4096) -> None:
        self.rpc = rpc
        self._ids: LRUCache[tuple[str, str, str], int] | None = LRUCache(size) if size else None

    async def find(self, model: str, field: str, value: object) -> int | None:
        """The id of the ``model`` record whose ``field`` equals ``value``, or None."""
        key = (model, field, str(value))
        cached = self._ids.get(key) if self._ids is not None else None
        if cached is not None:
            return cached
        ids = await self.rpc.search(model, [(field, "=", value)], limit=1)
        if not ids:
            return None
        if self._ids is not None:
            self._ids[key] = ids[0]
        return ids[0]

    async def resolve(self, ref: Reference, value: object) -> int:
        """The id ``ref`` names by ``value``.

        Raises:
            MappingError: No such record (its key is named unless it is personal data).
        """
        found = await self.find(ref.model, ref.key, value)
        if found is None:
            shown = f" {value}" if ref.quote else ""
            raise MappingError(
                f"odoo: unknown {ref.kind}{shown} (no {ref.model} with that {ref.key})"
            )
        return found

    async def trip_type(self, code: str) -> int:
        """The business-trip time-off type, by code (Odoo 17 sandbox) or exact name.

        Raises:
            MappingError: No type has that code or name.
        """
        try:
            found = await self.find("hr.leave.type", "code", code)
        except RejectedError:  # this Odoo's hr.leave.type has no ``code`` field
            found = None
        found = found or await self.find("hr.leave.type", "name", code)
        if found is None:
            raise MappingError(
                f"odoo: unknown time-off type {code} (no hr.leave.type with that code or name; "
                "check BIZBUS_ERP_TRIP_LEAVE_TYPE)"
            )
        return found


class LinesLockedError(RejectedError):
    """A placement's lines differ from a confirmed order's: the order changed after it was sent."""


def same_value(current: Any, wanted: Any) -> bool:
    """True when Odoo's ``current`` value (as ``search_read`` returns it) equals ``wanted``."""
    if isinstance(current, list) and len(current) == 2 and isinstance(current[0], int):
        current = current[0]  # many2one read as [id, display name]
    if current in (None, False, "") and wanted in (None, False, ""):
        return True
    if isinstance(wanted, bool) or isinstance(current, bool):
        return current is wanted
    if isinstance(wanted, datetime):
        return bool(current == odoo_datetime(wanted))
    if isinstance(wanted, date):
        return bool(current == wanted.isoformat())
    if isinstance(current, int | float) and isinstance(wanted, int | float | Decimal | str):
        try:
            return Decimal(str(current)) == Decimal(str(wanted))
        except (InvalidOperation, ValueError):
            return False
    return bool(current == wanted)


def changed_fields(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of ``wanted`` that differ from ``current`` (x2many commands always do)."""
    return {
        name: value
        for name, value in wanted.items()
        if isinstance(value, list | tuple) or not same_value(current.get(name), value)
    }


async def resolve_values(
    lookups: Lookups, spec: ModelSpec, payload: Mapping[str, Any], *, skip: Sequence[str] = ()
) -> dict[str, Any]:
    """Payload → Odoo values: shorthands (``partner_ref``) and ``{"ref": ...}`` many2ones to ids.

    Raises:
        MappingError: A named related record does not exist.
        SchemaError: A reference mapping names more than one key field.
    """
    values: dict[str, Any] = {}
    for name, value in payload.items():
        if name in skip:
            continue
        short = spec.shorthands.get(name)
        if short is not None:
            values[short.field] = await lookups.resolve(short, value)
        elif isinstance(value, Mapping) and name in RELATIONS:
            if len(value) != 1:
                raise SchemaError(f"odoo: {spec.name}.{name} must name exactly one key field")
            [(field, key)] = value.items()
            ref = Reference(name, RELATIONS[name], str(field), f"{RELATIONS[name]} {field}")
            values[name] = await lookups.resolve(ref, key)
        else:
            values[name] = value
    return values


def _key_check(spec: ModelSpec, values: dict[str, Any], key: str) -> str:
    field = spec.key_field
    if field is None:
        raise SchemaError(f"odoo: {spec.name} is read-only for bizbus (no external reference)")
    if not key:
        raise SchemaError(f"odoo: empty {field} in a {spec.name} command")
    if field in values and str(values.pop(field)) != key:
        raise SchemaError(f"odoo: {spec.name} payload sets {field} unlike its key")
    return field


async def _find(
    rpc: OdooRpc, spec: ModelSpec, field: str, key: str, fields: Sequence[str]
) -> dict[str, Any] | None:
    kwargs: dict[str, Any] = {"fields": list(dict.fromkeys(("id", *fields))), "limit": 2}
    if spec.archivable:
        kwargs.update(_ALL)
    rows = await rpc.call(spec.name, "search_read", [[(field, "=", key)]], kwargs)
    if isinstance(rows, list) and len(rows) > 1:
        raise RejectedError(
            f"odoo: several {spec.name} records have that {field}; merge or fix the duplicates",
            system="odoo",
        )
    return rows[0] if isinstance(rows, list) and rows and isinstance(rows[0], dict) else None


def _ids(record_id: int, **more: Any) -> dict[str, str]:
    extra = {k: str(v) for k, v in more.items() if v not in (None, False, "")}
    return {"odoo_id": str(record_id), **extra}


async def upsert(
    rpc: OdooRpc, lookups: Lookups, spec: ModelSpec, key: str, payload: Mapping[str, Any]
) -> ApplyResult:
    """Generic find-by-key, then create or write the changed fields (partners, products)."""
    values = await resolve_values(lookups, spec, payload)
    field = _key_check(spec, values, key)
    current = await _find(rpc, spec, field, key, [f for f in values if f != "id"])
    if current is None:
        record_id = await rpc.create(spec.name, {**values, field: key})
        return ApplyResult(Outcome.CREATED, _ids(record_id))
    record_id = int(current["id"])
    changes = changed_fields(current, values)
    if not changes:
        return ApplyResult(Outcome.UNCHANGED, _ids(record_id))
    await rpc.write(spec.name, [record_id], changes)
    return ApplyResult(Outcome.UPDATED, _ids(record_id))


def _line_key(line: Mapping[str, Any], *, prices: bool) -> tuple[Any, ...]:
    product = line.get("product_id")
    product = product[0] if isinstance(product, list) and product else product
    qty = Decimal(str(line.get("product_uom_qty", 1)))
    price = Decimal(str(line["price_unit"])) if prices and "price_unit" in line else None
    discount = Decimal(str(line.get("discount") or 0))
    return (product, qty.normalize(), price.normalize() if price is not None else None, discount)


async def order_lines(lookups: Lookups, lines: object) -> list[dict[str, Any]]:
    """Sale-order line payloads → Odoo line values (product codes resolved to ids)."""
    if not isinstance(lines, list):
        raise SchemaError("odoo: sale.order order_line must be a list of line objects")
    resolved = []
    for line in lines:
        if not isinstance(line, Mapping):
            raise SchemaError("odoo: each sale.order line must be an object")
        values = {k: v for k, v in line.items() if k in _LINE_FIELDS}
        if "product_default_code" in line:
            values["product_id"] = await lookups.resolve(LINE_PRODUCT, line["product_default_code"])
        if "product_id" not in values:
            raise SchemaError("odoo: a sale.order line needs product_default_code or product_id")
        resolved.append(values)
    return resolved


async def _lines_differ(
    rpc: OdooRpc, current: Mapping[str, Any], wanted: list[dict[str, Any]]
) -> bool:
    ids = [i for i in current.get("order_line") or [] if isinstance(i, int)]
    existing = await rpc.read("sale.order.line", ids, fields=_LINE_FIELDS) if ids else []
    prices = all("price_unit" in line for line in wanted)
    have = sorted((_line_key(line, prices=prices) for line in existing), key=repr)
    want = sorted((_line_key(line, prices=prices) for line in wanted), key=repr)
    return have != want


async def upsert_sale_order(
    rpc: OdooRpc, lookups: Lookups, key: str, payload: Mapping[str, Any]
) -> ApplyResult:
    """A sales order by ``client_order_ref`` with its lines, confirmed once when asked.

    Lines of an existing draft order are replaced only when they differ; lines of a confirmed
    order are never touched by a placement: a difference is a LinesLockedError, which the
    caller turns into a change of the order under the ERP's change rule.
    """
    spec = spec_for("sale.order")
    confirm = bool(payload.get("confirm", False))
    lines = await order_lines(lookups, payload["order_line"]) if "order_line" in payload else None
    header = await resolve_values(lookups, spec, payload, skip=("order_line", "confirm"))
    field = _key_check(spec, header, key)
    current = await _find(rpc, spec, field, key, ["name", "state", "order_line", *header])
    outcome = Outcome.UNCHANGED
    if current is None:
        values = {**header, field: key}
        if lines is not None:
            values["order_line"] = [(0, 0, line) for line in lines]
        record_id = await rpc.create(spec.name, values)
        [current] = await rpc.read(spec.name, [record_id], fields=["name", "state"])
        outcome = Outcome.CREATED
    else:
        record_id = int(current["id"])
        changes = changed_fields(current, header)
        if lines is not None and await _lines_differ(rpc, current, lines):
            if current.get("state") not in _DRAFT:
                raise LinesLockedError(
                    f"odoo: sale.order {current.get('name')} is {current.get('state')}; "
                    "its lines cannot be changed by a sync",
                    system="odoo",
                )
            changes["order_line"] = [(5, 0, 0), *((0, 0, line) for line in lines)]
        if changes:
            await rpc.write(spec.name, [record_id], changes)
            outcome = Outcome.UPDATED
    state = current.get("state")
    if confirm and state in _DRAFT:
        await rpc.call(spec.name, "action_confirm", [[record_id]])
        state = "sale"
        outcome = Outcome.CREATED if outcome is Outcome.CREATED else Outcome.UPDATED
    return ApplyResult(outcome, _ids(record_id, name=current.get("name"), state=state))


def _leave_values(payload: Mapping[str, Any]) -> dict[str, Any]:
    values = dict(payload)
    for short, full in (("date_from", "request_date_from"), ("date_to", "request_date_to")):
        if short in values:
            values[full] = values.pop(short)
    for name in ("request_date_from", "request_date_to"):
        value = values.get(name)
        if isinstance(value, datetime):
            values[name] = value.date()
    return values


async def upsert_leave(
    rpc: OdooRpc, lookups: Lookups, key: str, payload: Mapping[str, Any], *, trip_type: str
) -> ApplyResult:
    """A business trip (``hr.leave``) by ``x_external_ref``; ``state`` approves or revokes it.

    ``state``: ``validate``/``approved`` approves a pending leave; ``refused``/``cancelled``
    refuses it (Odoo's revocation); a refused leave is never approved again by a replay.
    """
    spec = spec_for("hr.leave")
    wanted = str(payload.get("state") or "").lower()
    values = await resolve_values(lookups, spec, _leave_values(payload), skip=("state",))
    if "holiday_status_id" not in values:
        values["holiday_status_id"] = await lookups.trip_type(trip_type)
    field = _key_check(spec, values, key)
    current = await _find(rpc, spec, field, key, ["state", *values])
    outcome = Outcome.UNCHANGED
    if current is None:
        record_id = await rpc.create(spec.name, {**values, field: key})
        state = "confirm"
        outcome = Outcome.CREATED
    else:
        record_id, state = int(current["id"]), str(current.get("state"))
        changes = changed_fields(current, values)
        if changes:
            await rpc.write(spec.name, [record_id], changes)
            outcome = Outcome.UPDATED
    action = None
    if wanted in _REFUSE and state not in ("refuse", "cancel"):
        action, state = "action_refuse", "refuse"
    elif wanted in _APPROVE and state in ("confirm", "validate1"):
        action, state = "action_validate", "validate"
    if action is not None:
        await rpc.call(spec.name, action, [[record_id]])
        outcome = Outcome.CREATED if outcome is Outcome.CREATED else Outcome.UPDATED
    return ApplyResult(outcome, _ids(record_id, state=state))


async def apply_command(
    rpc: OdooRpc, lookups: Lookups, command: SinkCommand, *, trip_type: str = "TRIP"
) -> ApplyResult:
    """Apply one command idempotently (``command.entity`` is the Odoo model).

    Raises:
        SchemaError: Unknown or read-only model, or a payload that contradicts its key.
        MappingError: A referenced customer, product, employee or leave type does not exist.
        RejectedError: Odoo refused the write, or several records have the key.
    """
    spec = spec_for(command.entity)
    if spec.name == "sale.order":
        return await upsert_sale_order(rpc, lookups, command.external_key, command.payload)
    if spec.name == "hr.leave":
        return await upsert_leave(
            rpc, lookups, command.external_key, command.payload, trip_type=trip_type
        )
    return await upsert(rpc, lookups, spec, command.external_key, command.payload)
