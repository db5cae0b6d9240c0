"""Availability into CRM products in bulk: one lookup call and one write call per 200 products.

The sink's handlers run concurrently (one per product model) and submit their availability to a
`Coalescer`; `write_availability` runs each batch: one Composite call (up to 5 SOQL `IN` lists
of 200 codes) reads the products with their current availability, and sObject Collections
calls (200 records each) write only the fields that differ. Unchanged products cost no write.
A product the CRM lacks yet is retried (the catalog creates it); a record Salesforce refuses is
that event's dead letter; a failed call fails the whole batch (the guard holds the stage).
"""

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bizbus.connectors.errors import TransientError
from bizbus.connectors.salesforce.soql import format_soql, select
from bizbus.flows.stock_visibility.mapping import (
    AVAILABLE,
    INCOMING,
    NEXT_DATE,
    Availability,
    changed_fields,
)

if TYPE_CHECKING:
    from bizbus.connectors.salesforce import SalesforceConnector

__all__ = ["CODES_PER_QUERY", "plan_writes", "write_availability"]

CODES_PER_QUERY = 200
_FIELDS = ("Id", "ErpProductRef__c", "ProductCode", AVAILABLE, INCOMING, NEXT_DATE)


def _queries(codes: Sequence[str]) -> list[str]:
    ordered = sorted(set(codes))
    return [
        select("Product2", list(_FIELDS),
               where=format_soql("ErpProductRef__c IN {c} OR ProductCode IN {c}",
                                 c=tuple(ordered[i : i + CODES_PER_QUERY])))
        for i in range(0, len(ordered), CODES_PER_QUERY)
    ]  # fmt: skip


def _product_of(rows: list[dict[str, Any]], code: str) -> dict[str, Any] | None:
    """The product linked to the model (ErpProductRef__c), else the one named by ProductCode."""
    linked = [row for row in rows if row.get("ErpProductRef__c") == code]
    named = [row for row in rows if row.get("ProductCode") == code]
    found = linked or named
    return found[0] if found else None


def plan_writes(
    rows: list[dict[str, Any]], changes: Sequence[Availability]
) -> tuple[list[tuple[int, str, dict[str, Any]]], list[Exception | None]]:
    """The updates a batch needs (change index, product id, changed fields) and early answers."""
    results: list[Exception | None] = [None] * len(changes)
    updates: list[tuple[int, str, dict[str, Any]]] = []
    for index, change in enumerate(changes):
        product = _product_of(rows, change.code)
        if product is None:
            results[index] = TransientError(
                f"stock: the CRM has no product {change.code} yet", system="crm"
            )
            continue
        fields = changed_fields(product, change)
        if fields:
            updates.append((index, str(product["Id"]), fields))
    return updates, results


async def write_availability(
    crm: "SalesforceConnector", changes: Sequence[Availability]
) -> list[Exception | None]:
    """Write a batch of availabilities (one per code); answer each one's error or None.

    Raises:
        ConnectorError: A call failed as a whole (every change of the batch fails with it).
    """
    answers = await crm.query_several(_queries([change.code for change in changes]))
    updates, results = plan_writes([row for rows in answers for row in rows], changes)
    if updates:
        saved = await crm.update_many([("Product2", rid, fields) for _, rid, fields in updates])
        for (index, _, _), result in zip(updates, saved, strict=True):
            results[index] = result.error("Product2")
    return results
