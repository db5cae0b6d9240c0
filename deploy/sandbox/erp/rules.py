"""Business rules run inside every create/write/unlink (Odoo's computes and constraints).

They cover: order line amounts, list price → pricelist rule, business-trip leave checks.
"""

# ruff: noqa: S608 - table and column names come from the model registry; values are bound

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from bizbus.deploy.sandbox.erp.errors import UserError, ValidationError
from bizbus.deploy.sandbox.erp.models import MODELS, table_of
from bizbus.deploy.sandbox.erp.orm import Env

__all__ = ["PUBLIC_PRICELIST", "install"]

PUBLIC_PRICELIST = "公开价目表 (CNY)"
_MODEL_OF_TABLE = {table_of(model): model for model in MODELS}
_CENT = Decimal("0.01")


def _money(value: float | Decimal) -> str:
    return str(Decimal(str(value)).quantize(_CENT))


def _sql_touch(env: Env, table: str, rid: int, **values: Any) -> None:
    """Store computed values the way Odoo's recompute does: it also stamps write_date/uid.

    As in Odoo (base_automation hooks `_compute_field_value`), a recompute is a write for the
    automation rules: the watchers run.
    """
    values.update(write_date=env.now(), write_uid=env.uid)
    sets = ", ".join(f'"{k}" = ?' for k in values)
    env.store.db.execute(f"UPDATE {table} SET {sets} WHERE id = ?", [*values.values(), rid])
    for watcher in env.watchers:
        watcher(env, _MODEL_OF_TABLE[table], [rid], values, False)


def _currency_cny(env: Env) -> int | None:
    ids = env.search("res.currency", [("name", "=", "CNY")], limit=1)
    return ids[0] if ids else None


def _order_defaults(
    env: Env, model: str, ids: list[int], vals: dict[str, Any], created: bool
) -> None:
    if not created:
        return
    for order in env.read(
        model, ids, ["date_order", "user_id", "pricelist_id", "currency_id"], load=None
    ):
        fill: dict[str, Any] = {}
        if not order["date_order"]:
            fill["date_order"] = env.now()
        if not order["user_id"] and "user_id" not in vals:
            fill["user_id"] = env.uid
        if not order["pricelist_id"]:
            pricelists = env.search("product.pricelist", [("name", "=", PUBLIC_PRICELIST)], limit=1)
            fill["pricelist_id"] = pricelists[0] if pricelists else None
        fill["currency_id"] = _currency_cny(env)
        _sql_touch(env, "sale_order", order["id"], **fill)
        recompute_order(env, order["id"])


def recompute_order(env: Env, order_id: int) -> None:
    """Recompute an order's amounts from its lines (no taxes in the sandbox)."""
    lines = env.search("sale.order.line", [("order_id", "=", order_id)])
    subtotal = sum(
        (
            Decimal(str(line["price_subtotal"]))
            for line in env.read("sale.order.line", lines, ["price_subtotal"])
        ),
        Decimal(0),
    )
    _sql_touch(
        env,
        "sale_order",
        order_id,
        amount_untaxed=_money(subtotal),
        amount_tax="0.00",
        amount_total=_money(subtotal),
    )


def _order_line(env: Env, model: str, ids: list[int], vals: dict[str, Any], created: bool) -> None:
    fields = ["order_id", "product_id", "product_uom_qty", "price_unit", "discount", "name"]
    for line in env.read(model, ids, fields, load=None):
        fill: dict[str, Any] = {}
        if created and line["product_id"]:
            if "price_unit" not in vals:
                price = env.read("product.product", [line["product_id"]], ["lst_price"])[0][
                    "lst_price"
                ]
                fill["price_unit"] = line["price_unit"] = price
            if not line["name"]:
                fill["name"] = env.display_name("product.product", line["product_id"])
        gross = Decimal(str(line["product_uom_qty"])) * Decimal(str(line["price_unit"]))
        net = gross * (Decimal(100) - Decimal(str(line["discount"]))) / Decimal(100)
        state = env.read("sale.order", [line["order_id"]], ["state"])[0]["state"]
        _sql_touch(
            env,
            "sale_order_line",
            line["id"],
            **fill,
            price_subtotal=_money(net),
            price_total=_money(net),
            state=state,
            currency_id=_currency_cny(env),
        )
        recompute_order(env, line["order_id"])


def _list_price(env: Env, model: str, ids: list[int], vals: dict[str, Any], created: bool) -> None:
    """A new list price becomes a fixed-price rule of the public CNY pricelist, valid from now."""
    if created:
        _sql_touch(env, "product_template", ids[0], currency_id=_currency_cny(env))
        if env.context.get("inherits_child") != "product.product":
            env.create("product.product", {"product_tmpl_id": ids[0]})
    if "list_price" not in vals:
        for rid in ids if not created else []:
            for variant in env.search("product.product", [("product_tmpl_id", "=", rid)]):
                _sql_touch(env, "product_product", variant)
        return
    pricelists = env.search("product.pricelist", [("name", "=", PUBLIC_PRICELIST)], limit=1)
    if not pricelists:
        return
    now = env.now()
    for rid in ids:
        for variant in env.search("product.product", [("product_tmpl_id", "=", rid)]):
            _sql_touch(env, "product_product", variant)
        current = env.search(
            "product.pricelist.item",
            [
                ("pricelist_id", "=", pricelists[0]),
                ("product_tmpl_id", "=", rid),
                ("date_end", "=", False),
            ],
        )
        if current:
            env.write("product.pricelist.item", current, {"date_end": now})
        env.create(
            "product.pricelist.item",
            {
                "pricelist_id": pricelists[0],
                "applied_on": "1_product",
                "product_tmpl_id": rid,
                "compute_price": "fixed",
                "fixed_price": float(vals["list_price"]),
                "date_start": now,
            },
        )


def _pricelist_item(
    env: Env, model: str, ids: list[int], vals: dict[str, Any], created: bool
) -> None:
    if created:
        for item in env.read(model, ids, ["pricelist_id"], load=None):
            currency = env.read(
                "product.pricelist", [item["pricelist_id"]], ["currency_id"], load=None
            )
            _sql_touch(
                env, "product_pricelist_item", item["id"], currency_id=currency[0]["currency_id"]
            )


def _leave(env: Env, model: str, ids: list[int], vals: dict[str, Any], created: bool) -> None:
    """Odoo's time-off constraints: dates in order, no overlap, unique external ref."""
    fields = [
        "employee_id",
        "request_date_from",
        "request_date_to",
        "state",
        "x_external_ref",
        "active",
    ]
    for leave in env.read(model, ids, fields, load=None):
        start = date.fromisoformat(leave["request_date_from"])
        end = date.fromisoformat(leave["request_date_to"])
        if end < start:
            raise ValidationError("The start date must be before or equal to the end date.")
        ref = leave["x_external_ref"]
        if ref and env.search_count(
            model, [("x_external_ref", "=", ref), ("id", "!=", leave["id"])], active_test=False
        ):
            raise ValidationError(
                f"The external reference {ref!r} is already used by another time off."
            )
        if leave["state"] not in ("refuse", "cancel") and leave["active"]:
            clash = env.search_count(
                model,
                [
                    ("employee_id", "=", leave["employee_id"]),
                    ("id", "!=", leave["id"]),
                    ("state", "not in", ["refuse", "cancel"]),
                    ("request_date_from", "<=", leave["request_date_to"]),
                    ("request_date_to", ">=", leave["request_date_from"]),
                ],
            )
            if clash:
                raise ValidationError(
                    "You can not set two time off that overlap on the same day "
                    "for the same employee."
                )
        # Working hours 09:00-18:00 Asia/Shanghai (UTC+8), stored in UTC like Odoo.
        _sql_touch(
            env,
            "hr_leave",
            leave["id"],
            date_from=f"{start - timedelta(days=0)} 01:00:00",
            date_to=f"{end} 10:00:00",
            number_of_days=float((end - start).days + 1),
        )


def _no_unlink_confirmed(env: Env, ids: list[int]) -> None:
    for order in env.read("sale.order", ids, ["state"]):
        if order["state"] in ("sale", "done"):
            raise UserError(
                "It is not allowed to delete a confirmed sales order. You must first cancel it."
            )


def _no_unlink_approved(env: Env, ids: list[int]) -> None:
    for leave in env.read("hr.leave", ids, ["state"]):
        if leave["state"] in ("validate", "validate1"):
            raise UserError("You cannot delete a time off which is in Approved state.")


def install(env: Env) -> Env:
    """Attach the rules to an Env and return it."""
    env.hooks = {
        "sale.order": [_order_defaults],
        "sale.order.line": [_order_line],
        "product.template": [_list_price],
        "product.pricelist.item": [_pricelist_item],
        "hr.leave": [_leave],
    }
    env.guards = {"sale.order": [_no_unlink_confirmed], "hr.leave": [_no_unlink_approved]}
    return env
