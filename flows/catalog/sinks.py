"""Catalog writes: the CRM product and price-book entry, the ERP product, conflict verdicts.

Each write is first remembered in the write-log (so its echo is recognised when the record comes
back) and is idempotent: both connectors compare before writing, so an unchanged record is not
written and replays change nothing. The CRM product is found by ErpProductRef__c or ProductCode
(and linked by ErpProductRef__c); a price for a product the CRM does not have yet is retried
(the product upsert travels on another topic). An ERP product that does not exist is a
MappingError: the CRM never creates ERP products. Price changes handled at the same time share
their CRM calls (`prices.py`: ~3 calls per 400 changes).
"""

import logging
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pydantic import JsonValue

from bizbus.connectors.base import SinkCommand
from bizbus.connectors.errors import MappingError
from bizbus.connectors.salesforce.soql import format_soql, select
from bizbus.flows.catalog.mapping import canonical, crm_product_fields, in_system
from bizbus.flows.catalog.ownership import CatalogSettings, Owner
from bizbus.flows.catalog.prices import PriceChange, write_prices
from bizbus.flows.catalog.writelog import WriteLog
from bizbus.flows.context import Systems
from bizbus.flows.runtime.coalesce import Coalescer
from bizbus.schemas import (
    FieldConflictDetectedV1,
    PriceBookEntryUpsertRequestedV1,
    ProductModelUpdateRequestedV1,
    ProductUpsertRequestedV1,
)

if TYPE_CHECKING:
    from bizbus.connectors.odoo import OdooConnector
    from bizbus.connectors.salesforce import SalesforceConnector

log = logging.getLogger("bizbus.catalog")
ERP_PRODUCT = "product.template"


class CatalogWriters:
    """The catalog's writes to the CRM and the ERP, each logged before it is made."""

    def __init__(self, connections: Systems, settings: CatalogSettings, writelog: WriteLog) -> None:
        self.connections = connections
        self.settings = settings
        self.writelog = writelog
        self._book: str | None = None
        self.prices: Coalescer[PriceChange, None] = Coalescer(
            self._write_prices,
            max_items=settings.price_batch_max,
            linger_s=settings.price_batch_linger_ms / 1000,
            max_wait_s=max(settings.price_batch_max_wait_ms, settings.price_batch_linger_ms) / 1000,
        )

    # -- lookups -----------------------------------------------------------------------

    async def crm_product(self, crm: "SalesforceConnector", code: str) -> dict[str, Any] | None:
        """Return the CRM product of a model (Id, ErpProductRef__c), or None."""
        where = format_soql("ErpProductRef__c = {c} OR ProductCode = {c}", c=code)
        rows = await crm.query(select("Product2", ["Id", "ErpProductRef__c"], where=where))
        linked = [row for row in rows if row.get("ErpProductRef__c") == code]
        found = linked or rows
        return found[0] if found else None

    async def price_book_id(self, crm: "SalesforceConnector") -> str:
        """Return the id of the configured CRM price book (cached)."""
        if self._book is None:
            name = self.settings.price_book
            found = await crm.find_id("Pricebook2", "Name", name)
            found = found or (
                await crm.standard_pricebook_id() if name == "Standard Price Book" else None
            )
            if found is None:
                raise MappingError(
                    "catalog: the CRM has no price book named BIZBUS_CATALOG_PRICE_BOOK"
                )
            self._book = found
        return self._book

    async def price_entry(
        self, crm: "SalesforceConnector", product_id: str
    ) -> dict[str, Any] | None:
        """Return the price-book entry (Id, UnitPrice) of a CRM product, or None."""
        book = await self.price_book_id(crm)
        where = format_soql("Product2Id = {p} AND Pricebook2Id = {b}", p=product_id, b=book)
        rows = await crm.query(select("PricebookEntry", ["Id", "UnitPrice"], where=where, limit=1))
        return rows[0] if rows else None

    async def erp_row(self, erp: "OdooConnector", code: str, fields: list[str]) -> dict[str, Any]:
        """Return the ERP product of a model (archived included).

        Raises:
            MappingError: The ERP has no such product (the CRM never creates one).
        """
        domain = [("default_code", "=", code), ("active", "in", [True, False])]
        rows = await erp.search_read(ERP_PRODUCT, domain, fields=["id", *fields], limit=1)
        if not rows:
            raise MappingError(f"catalog: the ERP has no product {code}")
        return rows[0]

    # -- ERP → CRM ---------------------------------------------------------------------

    async def upsert_crm_product(self, command: ProductUpsertRequestedV1) -> str | None:
        """Write ERP-owned product fields onto the CRM product (created when missing)."""
        crm = await self.connections.crm()
        code = command.model_code
        values = crm_product_fields(command, self.settings)
        fields = in_system(values, self.settings, "crm")
        current = await self.crm_product(crm, code)
        self.writelog.remember("crm", "Product2", code, values)
        if current is not None:
            if current.get("ErpProductRef__c") != code:
                fields["ErpProductRef__c"] = code
            await crm.update_by_id("Product2", str(current["Id"]), fields)
            return str(current["Id"])
        result = await crm.apply(SinkCommand("Product2", code, {**fields, "ProductCode": code}))
        return result.external_ids.get("salesforce_id")

    async def upsert_crm_price(self, command: PriceBookEntryUpsertRequestedV1) -> None:
        """Set the list price in the CRM price book, then flag open orders on another price.

        Logged first (in the caller's task: the write-log is a table of its stage), then
        written together with the other price changes in hand (`prices.write_prices`).
        """
        code = command.model_code
        rule = self.settings.ownership["list_price"]
        values: dict[str, JsonValue] = {"list_price": canonical(rule, command.unit_price.amount)}
        self.writelog.remember("crm", "PricebookEntry", code, values)
        change = PriceChange(
            code=code, price=Decimal(str(command.unit_price.amount)), field=rule.crm,
            external_key=f"{code}-{self.settings.pricelist_code}",
            flag_open_orders=command.flag_open_quotes,
        )  # fmt: skip
        await self.prices.submit(code, change)

    async def _write_prices(self, changes: Sequence[PriceChange]) -> list[Exception | None]:
        crm = await self.connections.crm()
        return await write_prices(crm, await self.price_book_id(crm), changes)

    # -- CRM → ERP ---------------------------------------------------------------------

    async def update_erp_product(self, command: ProductModelUpdateRequestedV1) -> None:
        """Write CRM-owned fields onto the ERP product (never creates one)."""
        if command.description is None or "description" not in self.settings.ownership:
            return
        rule = self.settings.ownership["description"]
        await self.write_erp(
            command.model_code, {"description": canonical(rule, command.description)}
        )

    async def write_erp(self, code: str, values: dict[str, JsonValue]) -> None:
        """Write canonical values onto the ERP product of `code`."""
        erp = await self.connections.erp()
        await self.erp_row(erp, code, [])
        self.writelog.remember("erp", ERP_PRODUCT, code, values)
        await erp.apply(SinkCommand(ERP_PRODUCT, code, in_system(values, self.settings, "erp")))

    # -- conflicts ---------------------------------------------------------------------

    async def resolve(self, conflict: FieldConflictDetectedV1) -> None:
        """Apply the policy's verdict: restore the owner's value, or carry the edit to it."""
        code, name = conflict.model_code, conflict.field
        if name not in self.settings.ownership:
            raise MappingError(f"catalog: {name} is no longer a synced field")
        if conflict.resolution == "restore-owner-value":
            value = await self.current_value(conflict.owner, code, name)
            await self.write_field(conflict.edited_in, code, name, value)
        else:
            await self.write_field(conflict.owner, code, name, conflict.edited_value)

    async def current_value(self, system: Owner, code: str, name: str) -> JsonValue:
        """Read a field's value from `system` now (the owner's value is the live one)."""
        rule = self.settings.ownership[name]
        if system == "erp":
            row = await self.erp_row(await self.connections.erp(), code, [rule.erp])
            return canonical(rule, row.get(rule.erp))
        crm = await self.connections.crm()
        row = await self._crm_record(crm, code, name)
        return canonical(rule, row.get(rule.crm))

    async def write_field(self, system: Owner, code: str, name: str, value: JsonValue) -> None:
        """Write one canonical field value into `system`."""
        if system == "erp":
            await self.write_erp(code, {name: value})
            return
        rule = self.settings.ownership[name]
        crm = await self.connections.crm()
        row = await self._crm_record(crm, code, name)
        self.writelog.remember("crm", rule.crm_object, code, {name: value})
        fields = in_system({name: value}, self.settings, "crm")
        await crm.update_by_id(rule.crm_object, str(row["Id"]), fields)

    async def _crm_record(self, crm: "SalesforceConnector", code: str, name: str) -> dict[str, Any]:
        rule = self.settings.ownership[name]
        product = await self.crm_product(crm, code)
        if product is None:
            raise MappingError(f"catalog: the CRM has no product {code}")
        if rule.crm_object == "Product2":
            return await crm.get("Product2", str(product["Id"]), fields=["Id", rule.crm])
        entry = await self.price_entry(crm, str(product["Id"]))
        if entry is None:
            raise MappingError(f"catalog: the CRM has no list price for {code}")
        return entry
