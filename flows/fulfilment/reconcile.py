"""Order statuses: how far the ERP has taken each CRM order against what the CRM order shows.

The ERP owns an order's progress. Its status is read from the sale order (confirmed,
cancelled), its manufacturing orders, its lines' delivered quantities (shipped once every line
is delivered in full) and its posted invoices, as the fulfilment flow's events would set it. A
CRM order showing less is healed by reasserting the ERP's status through the CRM order update
sink; a CRM order showing more is left alone (a later step may not be visible through these
reads, and a status never moves backwards). A CRM order that does not name its ERP order gets
the number written back the same way.
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from bizbus.connectors.fields import text
from bizbus.connectors.salesforce import select
from bizbus.flows.context import Systems
from bizbus.flows.fulfilment.mapping import production_status, sale_status
from bizbus.flows.runtime.reconcile import Drift, Reconciled, Reconciler, heal
from bizbus.flows.shared import CRM_STATUS, crm_order_deal
from bizbus.schemas import OrderStatus, OrderUpdateRequestedV1

__all__ = ["ErpOrder", "erp_status", "status_drift", "status_reconciler"]

ErpOrder = Mapping[str, Any]
"""A sale order with what was read about it: `state`, `productions`, `lines`, `invoiced`."""
_CRM_RANK = {value: status.rank for status, value in reversed(CRM_STATUS.items()) if value}


def erp_status(order: ErpOrder) -> OrderStatus | None:
    """Return the furthest status the ERP has taken a sale order to (None: not confirmed)."""
    found = [sale_status(str(order.get("state")))]
    found += [production_status(str(state)) for state in order.get("productions", ())]
    lines = order.get("lines") or []
    if lines and all(float(line["qty_delivered"]) >= float(line["product_uom_qty"])
                     for line in lines):  # fmt: skip
        found.append(OrderStatus.SHIPPED)
    if order.get("invoiced"):
        found.append(OrderStatus.INVOICED)
    if OrderStatus.CANCELLED in found:
        return OrderStatus.CANCELLED
    known = [status for status in found if status is not None]
    return max(known, key=lambda status: status.rank) if known else None


def status_drift(crm_order: Mapping[str, Any], erp: ErpOrder) -> Drift | None:
    """Return how a CRM order lags its ERP sale order (status behind, number missing), or None."""
    status = erp_status(erp)
    wanted = CRM_STATUS.get(status) if status is not None else None
    shown = crm_order.get("ErpStatus__c") or None
    rank = _CRM_RANK.get(str(shown), -1) if shown else -1
    behind = status is not None and wanted is not None and rank < status.rank
    unnamed = not text(crm_order.get("ErpOrderRef__c"))
    if not behind and not unnamed:
        return None
    order_id = str(crm_order["Id"])
    command = OrderUpdateRequestedV1(
        crm_order_id=order_id,
        erp_order_ref=str(erp["name"]),
        status=status if behind else None,
        reassert=behind,
    )
    if behind:
        issue, detail = "status behind", f"{erp['name']}: ERP {wanted}, CRM {shown or '(none)'}"
    else:
        issue, detail = "no ERP number", f"the CRM order does not name {erp['name']}"
    return Drift(order_id, issue, detail, heal(command, "orders", deal=crm_order_deal(order_id)))


def _by(rows: Iterable[Mapping[str, Any]], field: str) -> dict[str, list[Mapping[str, Any]]]:
    grouped: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        value = row.get(field)
        key = value[1] if isinstance(value, list) and len(value) > 1 else value
        if key:
            grouped[str(key)].append(row)
    return grouped


async def erp_orders(systems: Systems) -> dict[str, dict[str, Any]]:
    """Return every ERP sale order of a CRM order, by CRM order id, with its progress."""
    erp = await systems.erp()
    orders = await erp.search_read(
        "sale.order", [("client_order_ref", "!=", False)],
        fields=["name", "client_order_ref", "state"],
    )  # fmt: skip
    names = [str(row["name"]) for row in orders]
    if not names:
        return {}
    productions = _by(
        await erp.search_read(
            "mrp.production", [("origin", "in", names)], fields=["origin", "state"]
        ),
        "origin",
    )
    lines = _by(
        await erp.search_read(
            "sale.order.line",
            [("order_id", "in", [row["id"] for row in orders])],
            fields=["order_id", "product_uom_qty", "qty_delivered"],
        ),
        "order_id",
    )
    invoices = _by(await erp.search_read(
        "account.move",
        [("invoice_origin", "in", names), ("move_type", "=", "out_invoice"),
         ("state", "=", "posted")],
        fields=["invoice_origin"]), "invoice_origin")  # fmt: skip
    return {
        str(row["client_order_ref"]): {
            **row,
            "productions": [p["state"] for p in productions.get(str(row["name"]), [])],
            "lines": lines.get(str(row["name"]), []),
            "invoiced": bool(invoices.get(str(row["name"]))),
        }
        for row in orders
    }


def status_reconciler(systems: Systems) -> Reconciler:
    """Return the fulfilment flow's part of the `orders` reconciler: statuses behind the ERP."""

    async def check() -> Reconciled:
        erp = await erp_orders(systems)
        crm = await systems.crm()
        rows = await crm.query(select("Order", ["Id", "ErpStatus__c", "ErpOrderRef__c"]))
        drifts = [
            drift
            for row in rows
            if str(row["Id"]) in erp and (drift := status_drift(row, erp[str(row["Id"])]))
        ]
        return Reconciled(len(rows), tuple(drifts))

    return Reconciler("orders", "fulfilment", check)
