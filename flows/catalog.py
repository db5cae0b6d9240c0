"""Product catalog, both ways without loops: ERP model and price → CRM; CRM marketing text → ERP.

Sources: `src.erp.product` (product.template feed), `src.crm.product` (Product2),
`src.crm.price-book-entry`. Each record is diffed against the last state seen of it
(`catalog-state`); changed fields that hash like a write of ours (`catalog-write-log`, TTL; the
client tag / write_uid decide when it holds nothing) are echoes and dropped; the rest split by
owner (`flows.ownership`). ERP edits → ProductModelChangedV1 (biz.catalog.product-model),
PriceChangedV1 (biz.pricing.price) → cmd.crm.product / cmd.crm.price-book-entry → CRM Product2,
price-book entry, open orders flagged. CRM edits → ProductEditedV1 (biz.catalog.product) →
cmd.erp.product-model → ERP product. Edits by a non-owner → FieldConflictDetectedV1
(biz.catalog.field-conflict) → the policy's write. Keys: model code on biz/cmd topics.
Idempotent: state diffs make replays no-ops, sinks compare before writing. Dead letters: bad
events, products unknown to the ERP, prices for CRM products that never appear, edit storms.
"""

import logging
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from bizbus.connectors.base import Cursor, SourceRecord
from bizbus.connectors.errors import SchemaError
from bizbus.flows.catalog_mapping import (
    Values,
    Verdict,
    changed_fields,
    classify,
    conflict_of,
    crm_model_code,
    crm_values,
    erp_values,
    map_edit_to_erp_command,
    map_model_to_crm_command,
    map_price_to_crm_command,
    model_changed,
    price_changed,
    product_edited,
)
from bizbus.flows.catalog_sinks import ERP_PRODUCT, CatalogWriters
from bizbus.flows.context import FlowContext
from bizbus.flows.ownership import CatalogSettings, Owner, load_catalog_settings
from bizbus.flows.runtime.record import RawRecord
from bizbus.flows.runtime.spec import Feed
from bizbus.flows.shared import follow_up
from bizbus.flows.writelog import WriteLog, writelog_key
from bizbus.schemas import (
    TOPICS,
    Envelope,
    FieldConflictDetectedV1,
    Payload,
    PriceBookEntryUpsertRequestedV1,
    PriceChangedV1,
    ProductEditedV1,
    ProductModelChangedV1,
    ProductModelUpdateRequestedV1,
    ProductUpsertRequestedV1,
    SourceRecordCapturedV1,
    decode_record,
)
from bizbus.schemas.envelope import System

log = logging.getLogger("bizbus.catalog")
SOURCE = "bizbus://flows/catalog"
STATE_TABLE = "catalog-state"
WRITE_LOG_TABLE = "catalog-write-log"
SEEN_TABLE = "catalog-echoes-seen"
# faust refuses a table write from a topic with another partition count than its changelog:
# state and seen echoes are written by the src.* agents, the write-log by the cmd.* sinks.
SOURCE_PARTITIONS = TOPICS["src.erp.product"].partitions
SINK_PARTITIONS = TOPICS["cmd.crm.product"].partitions


def _data(record: RawRecord, kind: type[Any]) -> tuple[Envelope[Any], Any]:
    event = decode_record(record.value, record.headers)
    if not isinstance(event.data, kind):
        raise SchemaError(f"{record.topic} carries {event.type}, not {kind.__name__}")
    return event, event.data


def _erp_author(row: dict[str, Any]) -> int | None:
    value = row.get("write_uid")
    value = value[0] if isinstance(value, list) and value else value
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class CatalogFlow:
    """The catalog flow's state, tables and handlers (one per worker)."""

    def __init__(self, ctx: FlowContext, settings: CatalogSettings) -> None:
        self.ctx = ctx
        self.settings = settings
        app = ctx.app
        # faust tables keep keys and values as JSON unless their types say otherwise
        self.state: Any = app.GlobalTable(STATE_TABLE, default=None, partitions=SOURCE_PARTITIONS)
        self.writelog = WriteLog(
            app.GlobalTable(WRITE_LOG_TABLE, default=None, partitions=SINK_PARTITIONS),
            app.GlobalTable(SEEN_TABLE, default=None, partitions=SOURCE_PARTITIONS),
            ttl_s=settings.write_log_ttl_s,
            max_writes=settings.storm_max_writes,
            window_s=settings.storm_window_s,
            clock=time.time,
        )
        self.writers = CatalogWriters(ctx, settings, self.writelog)

    async def emit(
        self, payload: Payload, cause: Envelope[Any], origin: System, *, topic: str | None = None
    ) -> None:
        """Publish `payload` in the business case of `cause`."""
        event = follow_up(payload, cause, source=SOURCE, origin=origin)
        await self.ctx.publish(event, topic=topic)

    async def observe(
        self,
        system: Owner,
        obj: str,
        code: str,
        values: Values,
        *,
        own: bool,
    ) -> tuple[Values | None, Verdict, float]:
        """Return the previous values, the verdict on one record seen in `system`, and when."""
        seen_at = time.time()  # before anything is published: later writes of ours are newer
        stored = self.state.get(writelog_key(system, obj, code))
        previous: Values | None = stored["values"] if stored else None
        since = float(stored.get("at", 0.0)) if stored else 0.0
        over = self.writelog.overwritten(system, obj, code, values, since=since)
        changes = changed_fields(previous, values, over)
        echoes = self.writelog.echoes(system, obj, code, changes, own=own)
        verdict = classify(system, previous, values, echoes, self.settings, overwritten=over)
        return previous, verdict, seen_at

    def settle(
        self,
        system: Owner,
        obj: str,
        code: str,
        record_id: str,
        values: Values,
        verdict: Verdict,
        seen_at: float,
    ) -> None:
        """Store what was seen and consume its echoes (after every event was published)."""
        key = writelog_key(system, obj, code)
        self.state[key] = {"id": record_id, "values": values, "at": seen_at}
        if verdict.echoes:
            self.writelog.consume(system, obj, code, {k: values[k] for k in verdict.echoes})

    def owner_value(self, name: str, code: str) -> Any:
        """Return the owner's last seen value of field `name` for a model (None: not seen)."""
        rule = self.settings.ownership[name]
        obj = ERP_PRODUCT if rule.owner == "erp" else rule.crm_object
        stored = self.state.get(writelog_key(rule.owner, obj, code))
        return stored["values"].get(name) if stored else None

    async def record_conflicts(
        self,
        cause: Envelope[Any],
        system: Owner,
        obj: str,
        code: str,
        record_id: str,
        conflicts: Values,
        at: datetime,
    ) -> None:
        """Publish one FieldConflictDetectedV1 per conflicting field."""
        for name, edited in sorted(conflicts.items()):
            log.warning("%s: %s edited in the %s, which does not own it", code, name, system)
            conflict = conflict_of(
                code, name, edited_in=system, obj=obj, record_id=record_id, edited=edited,
                owner_value=self.owner_value(name, code), detected_at=at, settings=self.settings,
            )  # fmt: skip
            await self.emit(conflict, cause, system)

    # -- sources -----------------------------------------------------------------------

    async def on_erp_product(self, record: RawRecord) -> None:
        """An ERP product.template changed."""
        event, raw = _data(record, SourceRecordCapturedV1)
        row = raw.record
        code = row.get("default_code")
        if not isinstance(code, str) or not code or raw.change_type == "delete":
            return  # not a product model bizbus syncs
        values = erp_values(row, self.settings)
        erp = await self.ctx.connections.erp()
        own = _erp_author(row) == await erp.uid()
        previous, verdict, seen_at = await self.observe("erp", ERP_PRODUCT, code, values, own=own)
        edits = verdict.edits
        if verdict.first or set(edits) - {"list_price"}:
            model = model_changed(code, int(raw.record_id), values, previous, raw.modified_at)
            await self.emit(model, event, "erp")
        if "list_price" in edits and values.get("list_price") is not None:
            price = price_changed(code, values, previous, raw.modified_at, self.settings)
            await self.emit(price, event, "erp")
        await self.record_conflicts(event, "erp", ERP_PRODUCT, code, raw.record_id,
                                    verdict.conflicts, raw.modified_at)  # fmt: skip
        self.settle("erp", ERP_PRODUCT, code, raw.record_id, values, verdict, seen_at)

    async def on_crm_product(self, record: RawRecord) -> None:
        """A CRM Product2 changed."""
        event, raw = _data(record, SourceRecordCapturedV1)
        row = raw.record
        code = crm_model_code(row)
        if code is None or raw.change_type == "delete":
            return
        crm = await self.ctx.connections.crm()
        values = crm_values(row, self.settings, "Product2")
        own = crm.echo_hint(row) == crm.client_tag
        _, verdict, seen_at = await self.observe("crm", "Product2", code, values, own=own)
        if verdict.edits:
            edit = product_edited(code, raw.record_id, verdict.edits, row, self.settings)
            await self.emit(edit, event, "crm")
        await self.record_conflicts(event, "crm", "Product2", code, raw.record_id,
                                    verdict.conflicts, raw.modified_at)  # fmt: skip
        self.settle("crm", "Product2", code, raw.record_id, values, verdict, seen_at)

    async def on_crm_price(self, record: RawRecord) -> None:
        """A CRM price-book entry changed (only the configured price book is synced)."""
        event, raw = _data(record, SourceRecordCapturedV1)
        row = raw.record
        crm = await self.ctx.connections.crm()
        if raw.change_type == "delete" or row.get(
            "Pricebook2Id"
        ) != await self.writers.price_book_id(crm):
            return
        product = await crm.get("Product2", str(row["Product2Id"]),
                                fields=["Id", "ProductCode", "ErpProductRef__c"])  # fmt: skip
        code = crm_model_code(product)
        if code is None:
            return
        values = crm_values(row, self.settings, "PricebookEntry")
        own = crm.echo_hint(row) == crm.client_tag
        _, verdict, seen_at = await self.observe("crm", "PricebookEntry", code, values, own=own)
        await self.record_conflicts(event, "crm", "PricebookEntry", code, raw.record_id,
                                    verdict.conflicts, raw.modified_at)  # fmt: skip
        self.settle("crm", "PricebookEntry", code, raw.record_id, values, verdict, seen_at)

    # -- canonical events → commands ---------------------------------------------------

    async def on_model_changed(self, record: RawRecord) -> None:
        """ProductModelChangedV1 → the CRM product upsert command."""
        event, model = _data(record, ProductModelChangedV1)
        await self.emit(map_model_to_crm_command(model), event, "bizbus")

    async def on_price_changed(self, record: RawRecord) -> None:
        """PriceChangedV1 of the synced list price → the CRM price-book entry command."""
        event, price = _data(record, PriceChangedV1)
        if price.pricelist_code == self.settings.pricelist_code:
            await self.emit(map_price_to_crm_command(price, self.settings), event, "bizbus")

    async def on_product_edited(self, record: RawRecord) -> None:
        """ProductEditedV1 → the ERP product update command."""
        event, edit = _data(record, ProductEditedV1)
        command = map_edit_to_erp_command(edit)
        if command is not None:
            await self.emit(command, event, "bizbus")

    # -- sinks -------------------------------------------------------------------------

    async def apply_crm_product(self, record: RawRecord) -> None:
        """cmd.crm.product → CRM Product2."""
        _, command = _data(record, ProductUpsertRequestedV1)
        product_id = await self.writers.upsert_crm_product(command)
        self.ctx.xref.record(f"product:{command.model_code}", crm=product_id)

    async def apply_crm_price(self, record: RawRecord) -> None:
        """cmd.crm.price-book-entry → CRM price-book entry (+ open orders flagged)."""
        _, command = _data(record, PriceBookEntryUpsertRequestedV1)
        await self.writers.upsert_crm_price(command)

    async def apply_erp_product(self, record: RawRecord) -> None:
        """cmd.erp.product-model → ERP product."""
        _, command = _data(record, ProductModelUpdateRequestedV1)
        await self.writers.update_erp_product(command)

    async def resolve_conflict(self, record: RawRecord) -> None:
        """biz.catalog.field-conflict → the policy's write."""
        _, conflict = _data(record, FieldConflictDetectedV1)
        await self.writers.resolve(conflict)


def register(ctx: FlowContext) -> None:
    """Declare the catalog feeds, agents and tables."""
    flow = CatalogFlow(ctx, load_catalog_settings())

    async def read_erp_products(since: Cursor | None) -> AsyncIterator[SourceRecord]:
        erp = await ctx.connections.erp()
        async for change in erp.changes(ERP_PRODUCT, since, follow=False):
            yield change

    async def read_crm(entity: str, since: Cursor | None) -> AsyncIterator[SourceRecord]:
        crm = await ctx.connections.crm()
        async for change in crm.changes(entity, since):
            yield change

    async def read_crm_products(since: Cursor | None) -> AsyncIterator[SourceRecord]:
        async for change in read_crm("Product2", since):
            yield change

    async def read_crm_prices(since: Cursor | None) -> AsyncIterator[SourceRecord]:
        async for change in read_crm("PricebookEntry", since):
            yield change

    ctx.poller.add(Feed("erp.product", "erp", "src.erp.product", read_erp_products))
    ctx.poller.add(Feed("crm.product", "crm", "src.crm.product", read_crm_products))
    ctx.poller.add(Feed("crm.price-book-entry", "crm", "src.crm.price-book-entry",
                        read_crm_prices))  # fmt: skip
    agents = (
        ("src.erp.product", flow.on_erp_product, "catalog-erp-products"),
        ("src.crm.product", flow.on_crm_product, "catalog-crm-products"),
        ("src.crm.price-book-entry", flow.on_crm_price, "catalog-crm-prices"),
        ("biz.catalog.product-model", flow.on_model_changed, "catalog-models-to-crm"),
        ("biz.pricing.price", flow.on_price_changed, "catalog-prices-to-crm"),
        ("biz.catalog.product", flow.on_product_edited, "catalog-edits-to-erp"),
        ("cmd.crm.product", flow.apply_crm_product, "catalog-crm-product-sink"),
        ("cmd.crm.price-book-entry", flow.apply_crm_price, "catalog-crm-price-sink"),
        ("cmd.erp.product-model", flow.apply_erp_product, "catalog-erp-product-sink"),
        ("biz.catalog.field-conflict", flow.resolve_conflict, "catalog-conflicts"),
    )
    for topic, handler, name in agents:
        ctx.agent(topic, handler, name=name)


__all__ = ["CatalogFlow", "register"]
