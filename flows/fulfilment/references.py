"""What ERP records point to (lines, moves, products, the CRM order of a sale order), cached.

Read from the ERP on demand and kept in bounded LRU caches per worker. Only found values are
cached: a sale order may get its CRM reference later, while products and the link of a sale
order to a CRM order do not change once set.
"""

from collections.abc import Iterable
from typing import Any

from cachetools import LRUCache

from bizbus.connectors.errors import MappingError
from bizbus.flows.context import Systems
from bizbus.flows.fulfilment.mapping import ErpProduct

_LINE_FIELDS = ("product_id", "name", "product_uom_qty", "price_unit", "discount",
                "qty_delivered", "qty_invoiced")  # fmt: skip
_MOVE_FIELDS = ("product_id", "product_uom_qty", "quantity")


class ErpReferences:
    """The ERP lookups of the fulfilment flow's mapping stages."""

    def __init__(self, connections: Systems, *, size: int = 4096) -> None:
        self.connections = connections
        self._products: LRUCache[int, ErpProduct] = LRUCache(size)
        self._crm_orders: LRUCache[str, str] = LRUCache(size)

    def remember_crm_order(self, sale_order: str, crm_order_id: str) -> None:
        """Cache the CRM order of a sale order seen on the feed."""
        self._crm_orders[sale_order] = crm_order_id

    async def crm_order_of(self, sale_order: str | None) -> str | None:
        """Return the CRM order id (`client_order_ref`) of a sale order, if it has one."""
        if not sale_order:
            return None
        if (known := self._crm_orders.get(sale_order)) is not None:
            return known
        erp = await self.connections.erp()
        rows = await erp.search_read(
            "sale.order", [("name", "=", sale_order)], fields=["client_order_ref"], limit=1
        )
        ref = rows[0].get("client_order_ref") if rows else None
        if not ref:
            return None
        self.remember_crm_order(sale_order, str(ref))
        return str(ref)

    async def products(self, records: Iterable[dict[str, Any]]) -> dict[int, ErpProduct]:
        """Return the products the records' `product_id` name, by id.

        Raises:
            MappingError: A product is missing or has no `default_code` (its model code).
        """
        wanted = {
            int(value[0])
            for record in records
            if isinstance(value := record.get("product_id"), list) and value
        }
        missing = sorted(wanted - set(self._products))
        if missing:
            erp = await self.connections.erp()
            for row in await erp.read(
                "product.product", missing, fields=["default_code", "uom_name"]
            ):
                if not row.get("default_code"):
                    raise MappingError(f"odoo: product {row['id']} has no default_code")
                product = ErpProduct(
                    int(row["id"]), str(row["default_code"]), str(row.get("uom_name") or "件")
                )
                self._products[product.id] = product
        found = {pid: self._products.get(pid) for pid in wanted}
        return {pid: product for pid, product in found.items() if product is not None}

    async def sale_lines(self, line_ids: Any) -> list[dict[str, Any]]:
        """Return the order lines with the fields the sales-order event needs."""
        if not isinstance(line_ids, list) or not line_ids:
            return []
        erp = await self.connections.erp()
        return await erp.read("sale.order.line", [int(i) for i in line_ids], fields=_LINE_FIELDS)

    async def moves(self, picking_id: int) -> list[dict[str, Any]]:
        """Return the stock moves of a picking."""
        erp = await self.connections.erp()
        return await erp.search_read(
            "stock.move", [("picking_id", "=", picking_id)], fields=list(_MOVE_FIELDS)
        )
