"""List prices into the CRM price book in bulk: ~3 API calls for up to 400 price changes.

The price sink's handlers run concurrently (one per model code); each submits its change to a
`Coalescer`, which hands a batch to `write_prices`: one Composite call (5 queries) finds the
batch's price-book entries with their products and (when asked) open order lines (SOQL `IN`
lists of 200 codes; products without an entry cost one more call); sObject Collections calls
(200 records each) update the entries whose price moved, create the missing ones and flag open
orders. Each change gets its own answer: no CRM product yet → retried (TransientError), a
record Salesforce refuses → that event's dead letter; a failed call fails the whole batch (the
guard holds the stage, as for any outage). Unchanged prices write nothing.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from bizbus.connectors.errors import TransientError
from bizbus.connectors.salesforce.soql import format_soql, select

if TYPE_CHECKING:
    from bizbus.connectors.salesforce import SalesforceConnector

__all__ = ["CODES_PER_QUERY", "OPEN_STATUSES", "PriceChange", "write_prices"]

log = logging.getLogger("bizbus.catalog")
OPEN_STATUSES = ("Draft",)
CODES_PER_QUERY = 200  # keeps each SOQL statement and its URL well inside Salesforce's limits
_LINE_FIELDS = ("Id", "OrderId", "Product2Id", "UnitPrice", "PriceReviewNeeded__c",
                "Order.PriceReviewNeeded__c")  # fmt: skip


@dataclass(frozen=True, slots=True)
class PriceChange:
    """One model's new list price (`field`: the entry's price field, e.g. UnitPrice)."""

    code: str
    price: Decimal
    field: str
    external_key: str
    """ErpPriceRef__c of an entry created for it."""
    flag_open_orders: bool = False


def _by_code(codes: Sequence[str]) -> str:
    return format_soql("(Product2.ErpProductRef__c IN {c} OR Product2.ProductCode IN {c})",
                       c=tuple(codes))  # fmt: skip


def _chunks(codes: Sequence[str]) -> list[tuple[str, ...]]:
    ordered = sorted(set(codes))
    return [
        tuple(ordered[i : i + CODES_PER_QUERY]) for i in range(0, len(ordered), CODES_PER_QUERY)
    ]


def _lookups(changes: Sequence[PriceChange], book: str) -> list[tuple[str, str]]:
    """(kind, SOQL): the batch's entries in the book (with their product's codes) and open lines."""
    fields = sorted({"Id", "Product2Id", "Product2.ErpProductRef__c", "Product2.ProductCode",
                     *(change.field for change in changes)})  # fmt: skip
    queries: list[tuple[str, str]] = []
    for codes in _chunks([change.code for change in changes]):
        where = format_soql("Pricebook2Id = {b} AND ", b=book) + _by_code(codes)
        queries.append(("entry", select("PricebookEntry", fields, where=where)))
    for codes in _chunks([change.code for change in changes if change.flag_open_orders]):
        where = format_soql("Order.Status IN {s} AND PricebookEntry.Pricebook2Id = {b} AND ",
                            s=OPEN_STATUSES, b=book) + _by_code(codes)  # fmt: skip
        queries.append(("line", select("OrderItem", list(_LINE_FIELDS), where=where)))
    return queries


def _product_queries(codes: Sequence[str]) -> list[tuple[str, str]]:
    return [
        ("product", select("Product2", ["Id", "ErpProductRef__c", "ProductCode"],
                           where=format_soql("ErpProductRef__c IN {c} OR ProductCode IN {c}",
                                             c=chunk)))
        for chunk in _chunks(codes)
    ]  # fmt: skip


async def _run(
    crm: "SalesforceConnector", queries: list[tuple[str, str]]
) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {"product": [], "entry": [], "line": []}
    answers = await crm.query_several([soql for _, soql in queries]) if queries else []
    for (kind, _), rows in zip(queries, answers, strict=True):
        found[kind] += rows
    return found


def _products(rows: list[dict[str, Any]], codes: Sequence[str]) -> dict[str, str]:
    """Model code → CRM product id: the product linked by ErpProductRef__c, else by ProductCode."""
    found: dict[str, str] = {}
    for code in codes:
        linked = [r for r in rows if r.get("ErpProductRef__c") == code]
        named = [r for r in rows if r.get("ProductCode") == code]
        matches = linked or named
        if matches:
            found[code] = str(matches[0]["Id"])
    return found


async def _find(
    crm: "SalesforceConnector", book: str, changes: Sequence[PriceChange]
) -> tuple[dict[str, str], dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """Products by code, entries by product id, open lines: usually one Composite call.

    A code whose entry belongs to the product linked to it (ErpProductRef__c) needs no more;
    the others (no entry yet, or an unlinked product) are looked up as products, like
    `CatalogWriters.crm_product` does.
    """
    found = await _run(crm, _lookups(changes, book))
    entries = {str(row["Product2Id"]): row for row in found["entry"]}
    products = {
        str(ref): str(row["Product2Id"])
        for row in found["entry"]
        if (ref := (row.get("Product2") or {}).get("ErpProductRef__c"))
    }
    unlinked = sorted({c.code for c in changes} - set(products))
    if unlinked:
        products |= _products((await _run(crm, _product_queries(unlinked)))["product"], unlinked)
    return products, entries, found["line"]


def _same(current: Any, price: Decimal) -> bool:
    return current is not None and Decimal(str(current)) == price


async def write_prices(
    crm: "SalesforceConnector", book: str, changes: Sequence[PriceChange]
) -> list[Exception | None]:
    """Write a batch of price changes (one per code); answer each one's error or None.

    Raises:
        ConnectorError: A call failed as a whole (every change of the batch fails with it).
    """
    products, entries, lines = await _find(crm, book, changes)
    results: list[Exception | None] = [None] * len(changes)
    updates: list[tuple[int, str, dict[str, Any]]] = []
    creates: list[tuple[int, dict[str, Any]]] = []
    for index, change in enumerate(changes):
        product = products.get(change.code)
        if product is None:
            results[index] = TransientError(
                f"catalog: the CRM has no product {change.code} yet", system="crm"
            )
            continue
        entry = entries.get(product)
        if entry is None:
            creates.append((index, {"Pricebook2Id": book, "Product2Id": product,
                                    change.field: float(change.price), "IsActive": True,
                                    "ErpPriceRef__c": change.external_key}))  # fmt: skip
        elif not _same(entry.get(change.field), change.price):
            updates.append((index, str(entry["Id"]), {change.field: float(change.price)}))
    if updates:
        saved = await crm.update_many([("PricebookEntry", rid, f) for _, rid, f in updates])
        for (index, _, _), result in zip(updates, saved, strict=True):
            results[index] = result.error("PricebookEntry")
    if creates:
        made = await crm.create_many([("PricebookEntry", fields) for _, fields in creates])
        for (index, _), result in zip(creates, made, strict=True):
            results[index] = result.error("PricebookEntry")
    if lines:
        await _flag_open_orders(crm, changes, products, lines, results)
    return results


async def _flag_open_orders(
    crm: "SalesforceConnector",
    changes: Sequence[PriceChange],
    products: dict[str, str],
    lines: list[dict[str, Any]],
    results: list[Exception | None],
) -> None:
    """Flag open lines priced unlike their product's new price, and their orders (one call)."""
    price_of = {
        products[c.code]: (i, c.price) for i, c in enumerate(changes)
        if c.flag_open_orders and results[i] is None and c.code in products
    }  # fmt: skip
    writes: dict[tuple[str, str], int] = {}  # (object, id) → the change it is for
    for line in lines:
        wanted = price_of.get(str(line.get("Product2Id")))
        if wanted is None or _same(line.get("UnitPrice"), wanted[1]):
            continue
        if not line.get("PriceReviewNeeded__c"):
            writes.setdefault(("OrderItem", str(line["Id"])), wanted[0])
        if not (line.get("Order") or {}).get("PriceReviewNeeded__c"):
            writes.setdefault(("Order", str(line["OrderId"])), wanted[0])
    if not writes:
        return
    ordered = sorted(writes, key=lambda k: k[0] != "OrderItem")  # lines, then their orders
    saved = await crm.update_many([(obj, rid, {"PriceReviewNeeded__c": True})
                                   for obj, rid in ordered])  # fmt: skip
    for (obj, rid), result in zip(ordered, saved, strict=True):
        index = writes[(obj, rid)]
        error = result.error(obj)
        if error is not None and results[index] is None:
            results[index] = error
    flagged = sum(1 for obj, _ in ordered if obj == "Order")
    log.info("%d open order(s) flagged for price review", flagged)
