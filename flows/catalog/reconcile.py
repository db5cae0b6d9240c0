"""Prices: the ERP's list price of each model against its entry in the synced CRM price book.

The ERP owns the list price, so a CRM entry that differs (edited in the CRM while bizbus was
down, or by hand) is healed with the same price-book command the catalog flow sends, which the
CRM sink writes (logged first, so the echo is dropped). Models the CRM does not have yet are
reported without a heal: the catalog flow creates them from the ERP's next model change.
"""

from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import JsonValue

from bizbus.connectors.salesforce import format_soql, select
from bizbus.flows.catalog.mapping import canonical, crm_model_code
from bizbus.flows.catalog.ownership import CatalogSettings
from bizbus.flows.catalog.sinks import ERP_PRODUCT, CatalogWriters
from bizbus.flows.context import Systems
from bizbus.flows.runtime.reconcile import Drift, Reconciled, Reconciler, heal
from bizbus.schemas import Money, PriceBookEntryUpsertRequestedV1

__all__ = ["price_drift", "prices_reconciler"]

Prices = Mapping[str, JsonValue]
"""Canonical list price by model code."""


def price_drift(erp: Prices, crm: Prices, settings: CatalogSettings, *, today: date) -> list[Drift]:
    """Return a drift per model whose CRM price is missing or differs from the ERP's.

    `crm` holds the models the CRM has as products (value None: no entry in the price book).
    """
    drifts = []
    for code in sorted(erp):
        price = erp[code]
        if price is None:
            continue  # no list price in the ERP: nothing to carry
        if code not in crm:
            drifts.append(Drift(code, "not in the CRM", f"ERP {price}"))
            continue
        if crm[code] == price:
            continue
        command = PriceBookEntryUpsertRequestedV1(
            price_book_name=settings.price_book,
            model_code=code,
            unit_price=Money(amount=Decimal(str(price)), currency=settings.currency),
            valid_from=today,
            flag_open_quotes=False,  # the ERP's price did not move; the CRM strayed from it
        )
        issue = "no CRM price" if crm[code] is None else "price differs"
        drifts.append(Drift(code, issue, f"ERP {price}, CRM {crm[code]}", heal(command, "prices")))
    return drifts


async def erp_prices(systems: Systems, settings: CatalogSettings) -> dict[str, JsonValue]:
    """Return the list price of every active ERP product model."""
    rule = settings.ownership["list_price"]
    erp = await systems.erp()
    rows = await erp.search_read(
        ERP_PRODUCT, [("default_code", "!=", False)], fields=["default_code", rule.erp]
    )
    return {
        str(row["default_code"]): canonical(rule, row.get(rule.erp))
        for row in rows
        if isinstance(row.get("default_code"), str)
    }


async def crm_prices(
    systems: Systems, settings: CatalogSettings, writers: CatalogWriters
) -> dict[str, JsonValue]:
    """Return the synced price-book entry of every CRM product with a model code (None: none)."""
    rule = settings.ownership["list_price"]
    crm = await systems.crm()
    products = await crm.query(select("Product2", ["Id", "ProductCode", "ErpProductRef__c"]))
    book = await writers.price_book_id(crm)
    entries = await crm.query(
        select("PricebookEntry", ["Product2Id", rule.crm],
               where=format_soql("Pricebook2Id = {b}", b=book))
    )  # fmt: skip
    price_of: dict[str, Any] = {str(row["Product2Id"]): row.get(rule.crm) for row in entries}
    found: dict[str, JsonValue] = {}
    for product in products:
        code = crm_model_code(product)
        if code is not None:
            entry = price_of.get(str(product["Id"]))
            found[code] = None if entry is None else canonical(rule, entry)
    return found


def prices_reconciler(
    systems: Systems,
    settings: CatalogSettings,
    writers: CatalogWriters,
    *,
    now: Callable[[], datetime],
) -> Reconciler:
    """Return the `prices` reconciler of the catalog flow (`now()` dates its heals)."""

    async def check() -> Reconciled:
        erp = await erp_prices(systems, settings)
        crm = await crm_prices(systems, settings, writers)
        drifts = price_drift(erp, crm, settings, today=now().date())
        return Reconciled(len(erp), tuple(drifts))

    return Reconciler("prices", "catalog", check)
