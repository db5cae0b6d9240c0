"""Odoo sale-order cancellation: read how far an order got, then `sale.order.action_cancel`.

Reading is one `search_read` per model (order, its manufacturing orders, its pickings); the
caller decides from them whether the ERP should still cancel. Cancelling is one action call,
as Odoo 17's `action_cancel` (it stops open manufacturing orders and deliveries itself).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bizbus.connectors.odoo.rpc import OdooRpc

__all__ = ["SaleOrderProgress", "cancel_sale_order", "sale_order_progress"]


@dataclass(frozen=True, slots=True)
class SaleOrderProgress:
    """A sale order and the documents that show how far its fulfilment got."""

    order: Mapping[str, Any]
    productions: tuple[Mapping[str, Any], ...]
    pickings: tuple[Mapping[str, Any], ...]


async def sale_order_progress(rpc: OdooRpc, crm_order_id: str) -> SaleOrderProgress | None:
    """Return the sale order whose `client_order_ref` is `crm_order_id`, or None.

    The order carries its lines and delivery date too, so a change is worked out without
    reading the order again.
    """
    orders = await rpc.search_read(
        "sale.order", [("client_order_ref", "=", crm_order_id)],
        fields=["name", "state", "commitment_date", "order_line"], limit=1,
    )  # fmt: skip
    if not orders:
        return None
    name = orders[0]["name"]
    productions = await rpc.search_read(
        "mrp.production", [("origin", "=", name)], fields=["name", "state"]
    )
    pickings = await rpc.search_read(
        "stock.picking", [("origin", "=", name)], fields=["name", "state", "picking_type_code"]
    )
    return SaleOrderProgress(orders[0], tuple(productions), tuple(pickings))


async def cancel_sale_order(rpc: OdooRpc, order_id: int) -> None:
    """Run `sale.order.action_cancel` on one order (its open MOs and deliveries follow)."""
    await rpc.call("sale.order", "action_cancel", [[order_id]])
