"""Odoo sale-order changes: what a sent order's new lines and delivery date would write.

Lines are matched to the order's lines by product, in line order: a matched line gets only its
differing quantity, price or discount (`(1, id, values)`), a new product a new line, a product
no longer ordered quantity 0 (Odoo keeps the lines of a confirmed order; it plans the rest from
the quantities). An order that has the content already yields no values, so a redelivered
change writes nothing. The caller decides whether the ERP may take a change at all.
"""

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from bizbus.connectors.odoo.rpc import OdooRpc
from bizbus.connectors.odoo.sink import Lookups, order_lines, same_value

__all__ = ["sale_order_changes", "write_sale_order"]

_LINE_FIELDS = ("product_id", "product_uom_qty", "price_unit", "discount")
_COMPARED = ("product_uom_qty", "price_unit", "discount")


def _product(line: Mapping[str, Any]) -> Any:
    product = line.get("product_id")
    return product[0] if isinstance(product, list) and product else product


async def sale_order_changes(
    rpc: OdooRpc,
    lookups: Lookups,
    order: Mapping[str, Any],
    lines: Sequence[Mapping[str, Any]],
    commitment_date: date | None,
) -> dict[str, Any]:
    """Return the `sale.order` values that bring `order` to `lines` and the date.

    `order`: the sale order as read (`commitment_date`, `order_line` ids); its lines are read.
    `lines`: line payloads as the sink takes them (`product_default_code`, quantity, price).
    Raises MappingError when a line's product is unknown to the ERP.
    """
    wanted = await order_lines(lookups, list(lines))
    ids = [i for i in order.get("order_line") or [] if isinstance(i, int)]
    existing = await rpc.read("sale.order.line", sorted(ids), fields=_LINE_FIELDS) if ids else []
    pools: dict[Any, list[Mapping[str, Any]]] = {}
    for line in sorted(existing, key=lambda line: int(line["id"])):
        pools.setdefault(_product(line), []).append(line)
    commands: list[tuple[int, int, dict[str, Any]]] = []
    for line in wanted:
        pool = pools.get(line["product_id"])
        if not pool:
            commands.append((0, 0, line))
            continue
        current = pool.pop(0)
        diff = {
            k: line[k] for k in _COMPARED if k in line and not same_value(current.get(k), line[k])
        }
        if diff:
            commands.append((1, int(current["id"]), diff))
    for pool in pools.values():
        commands += [
            (1, int(line["id"]), {"product_uom_qty": 0})
            for line in pool
            if not same_value(line.get("product_uom_qty"), 0)
        ]
    values: dict[str, Any] = {"order_line": commands} if commands else {}
    current_date = order.get("commitment_date")
    if commitment_date is not None and (
        not isinstance(current_date, str) or current_date[:10] != commitment_date.isoformat()
    ):
        values["commitment_date"] = f"{commitment_date.isoformat()} 00:00:00"
    return values


async def write_sale_order(rpc: OdooRpc, order_id: int, values: Mapping[str, Any]) -> None:
    """Write `values` (from `sale_order_changes`) on one sale order."""
    await rpc.write("sale.order", [order_id], dict(values))
