"""List prices into the CRM price book in bulk: ~2 API calls for up to 200 price changes.

The price sink's handlers run concurrently (one per model code); each submits its change to a
`Coalescer`, which hands a batch to `write_prices`: one Composite call finds the batch's
products, their price-book entries and (when asked) their open order lines (SOQL `IN` lists);
one sObject Collections call updates the entries whose price moved, one creates the missing
ones, one flags open orders. Each change gets its own answer: no CRM product yet → retried
(TransientError), a record Salesforce refuses → that event's dead letter; a failed call fails
the whole batch (the guard holds the stage, as for any outage). Unchanged prices write nothing.
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

__all__ = ["OPEN_STATUSES", "PriceChange", "write_prices"]

log = logging.getLogger("bizbus.catalog")
OPEN_STATUSES = ("Draft",)
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


def _queries(changes: Sequence[PriceChange], book: str) -> list[str]:
    codes = sorted({change.code for change in changes})
    fields = sorted({"Id", "Product2Id", *(change.field for change in changes)})
    queries = [
        select("Product2", ["Id", "ErpProductRef__c", "ProductCode"], where=format_soql(
            "ErpProductRef__c IN {c} OR ProductCode IN {c}", c=tuple(codes))),
        select("PricebookEntry", fields, where=format_soql("Pricebook2Id = {b} AND ", b=book)
               + _by_code(codes)),
    ]  # fmt: skip
    flagged = sorted({change.code for change in changes if change.flag_open_orders})
    if flagged:
        where = format_soql("Order.Status IN {s} AND PricebookEntry.Pricebook2Id = {b} AND ",
                            s=OPEN_STATUSES, b=book) + _by_code(flagged)  # fmt: skip
        queries.append(select("OrderItem", list(_LINE_FIELDS), where=where))
    return queries


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


def _same(current: Any, price: Decimal) -> bool:
    return current is not None and Decimal(str(current)) == price


async def write_prices(
    crm: "SalesforceConnector", book: str, changes: Sequence[PriceChange]
) -> list[Exception | None]:
    """Write a batch of price changes (one per code); answer each one's error or None.

    Raises:
        ConnectorError: A call failed as a whole (every change of the batch fails with it).
    """
    answers = await crm.query_several(_queries(changes, book))
    products = _products(answers[0], [change.code for change in changes])
    entries = {str(row["Product2Id"]): row for row in answers[1]}
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
    if len(answers) > 2:
        await _flag_open_orders(crm, changes, products, answers[2], results)
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
