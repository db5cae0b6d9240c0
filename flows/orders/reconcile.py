"""Orders: every activated CRM order against the ERP sale order that should stand for it.

An activated order the ERP has no sale order for (its placement dead-lettered and was never
replayed, or the CRM changed while bizbus was down) is healed by placing it again: the same
OrderPlacedV1 the orders flow publishes, which the ERP sink upserts by the CRM order id. Orders
changed within the grace period are left out: they may still be on their way.
"""

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from bizbus.connectors.errors import MappingError
from bizbus.connectors.fields import text
from bizbus.connectors.salesforce import SalesforceConnector, format_soql, select
from bizbus.connectors.salesforce.objects import SYSTEM_FIELDS, spec_for
from bizbus.connectors.salesforce.soql import parse_datetime
from bizbus.connectors.salesforce.source import attach_order_items
from bizbus.flows.context import Systems
from bizbus.flows.orders.mapping import ACTIVATED
from bizbus.flows.runtime.reconcile import Drift, Reconciled, Reconciler, heal
from bizbus.flows.shared import crm_order_deal
from bizbus.schemas import OrderPlacedV1

__all__ = ["orders_reconciler", "placement_drift"]

PlacedOf = Callable[[SalesforceConnector, Mapping[str, Any]], Awaitable[OrderPlacedV1]]


def placement_drift(row: Mapping[str, Any]) -> Drift:
    """Return the drift of an activated CRM order the ERP has no sale order for (no heal yet)."""
    order_id = str(row["Id"])
    if text(row.get("ErpOrderRef__c")):
        detail = f"the CRM names ERP order {row['ErpOrderRef__c']}, which the ERP does not have"
        return Drift(order_id, "ERP order missing", detail)
    return Drift(order_id, "not in the ERP", "activated, never became an ERP sales order")


def orders_reconciler(
    systems: Systems, placed_of: PlacedOf, *, grace_s: float, now: Callable[[], datetime]
) -> Reconciler:
    """Return the orders flow's part of the `orders` reconciler: placements the ERP lacks."""

    async def healed(crm: SalesforceConnector, row: Mapping[str, Any]) -> Drift:
        drift = placement_drift(row)
        if drift.issue != "not in the ERP":
            return drift  # an ERP order was deleted: a person decides, not bizbus
        try:
            order = await placed_of(crm, row)
        except MappingError as error:
            return Drift(drift.key, "not mappable", str(error))
        except ValueError as error:  # pydantic's too; its message may quote the record
            return Drift(drift.key, "not mappable", f"{type(error).__name__} (values not shown)")
        placed = heal(order, "orders", deal=crm_order_deal(drift.key))
        return Drift(drift.key, drift.issue, drift.detail, placed)

    async def check() -> Reconciled:
        crm = await systems.crm()
        fields = dict.fromkeys((*SYSTEM_FIELDS, *spec_for("Order").fields))
        where = format_soql("Status = {s}", s=ACTIVATED)
        rows = await crm.query(select("Order", fields, where=where))
        erp = await systems.erp()
        refs = await erp.search_read(
            "sale.order", [("client_order_ref", "!=", False)], fields=["client_order_ref"]
        )
        in_erp = {str(row["client_order_ref"]) for row in refs}
        settled = now() - timedelta(seconds=grace_s)
        lacking = [
            row
            for row in rows
            if str(row["Id"]) not in in_erp
            and parse_datetime(str(row["SystemModstamp"])) <= settled
        ]
        await attach_order_items(crm, lacking)
        return Reconciled(len(rows), tuple([await healed(crm, row) for row in lacking]))

    return Reconciler("orders", "orders", check)
