"""Product catalog, both ways without loops: ERP model and price → CRM; CRM marketing text → ERP.

`src.erp.product`, `src.crm.product`, `src.crm.price-book-entry` → diffed against the last state
seen, echoes of our writes dropped (`writelog`), the rest split by owner (`ownership`) → model,
price, edit and conflict events on `biz.*` → commands on `cmd.*` → CRM/ERP sinks (compare first).
Key: the model code. Dead letters: bad events, products the ERP lacks, edit storms.
Conflicts go to people instead with `BIZBUS_CATALOG_CONFLICTS_TO=oa` (`approvals`).
"""

import logging
from datetime import datetime
from typing import Any, ClassVar

from pydantic import JsonValue

from bizbus import schemas
from bizbus.flows.catalog.approvals import DECISIONS, ConflictApprovals
from bizbus.flows.catalog.mapping import (
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
from bizbus.flows.catalog.ownership import CatalogSettings, Owner, load_catalog_settings
from bizbus.flows.catalog.reconcile import prices_reconciler
from bizbus.flows.catalog.sinks import ERP_PRODUCT, CatalogWriters
from bizbus.flows.catalog.writelog import WriteLog, writelog_key
from bizbus.flows.context import FlowDeps
from bizbus.flows.runtime import spec
from bizbus.flows.runtime.reconcile import Reconciler
from bizbus.flows.runtime.record import RawRecord
from bizbus.flows.runtime.spec import Declaration, Emit, Output, Put, StageSpec
from bizbus.flows.shared import (
    CRM,
    ERP,
    OA,
    captured,
    crm_batch,
    crm_feed,
    decode,
    decode_as,
    erp_feed,
    follow_up,
)
from bizbus.schemas import TOPICS, Envelope, Payload
from bizbus.schemas.envelope import System

log = logging.getLogger("bizbus.catalog")
SOURCE = "bizbus://flows/catalog"
# faust refuses a table write from a topic with another partition count than its changelog:
# state and seen echoes are written by the src.* stages, the write-log by the cmd.* sinks.
SOURCE_PARTITIONS = TOPICS["src.erp.product"].partitions
SINK_PARTITIONS = TOPICS["cmd.crm.product"].partitions
# (system, feed/topic entity, the system's object)
FEEDS: tuple[tuple[Owner, str, str], ...] = (
    ("erp", "product", ERP_PRODUCT),
    ("crm", "product", "Product2"),
    ("crm", "price-book-entry", "PricebookEntry"),
)
STATE = spec.TableSpec("catalog-state", SOURCE_PARTITIONS, global_=True)
WRITE_LOG = spec.TableSpec("catalog-write-log", SINK_PARTITIONS, global_=True)
SEEN = spec.TableSpec("catalog-echoes-seen", SOURCE_PARTITIONS, global_=True)


def _erp_author(row: dict[str, Any]) -> int | None:
    value = row.get("write_uid")
    value = value[0] if isinstance(value, list) and value else value
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class CatalogFlow:
    """The catalog flow's state and handlers (one per worker)."""

    TABLES: ClassVar[tuple[spec.TableSpec, ...]] = (STATE, WRITE_LOG, SEEN, DECISIONS)

    def __init__(
        self,
        deps: FlowDeps,
        tables: spec.Tables | None = None,
        *,
        settings: CatalogSettings | None = None,
    ) -> None:
        self.deps = deps
        self.settings = settings or load_catalog_settings()
        tables = tables or spec.fresh_tables(*self.TABLES)
        self.state = tables[STATE.name]
        self.writelog = WriteLog(
            tables[WRITE_LOG.name],
            tables[SEEN.name],
            ttl_s=self.settings.write_log_ttl_s,
            max_writes=self.settings.storm_max_writes,
            window_s=self.settings.storm_window_s,
            clock=deps.clock,
        )
        self.writers = CatalogWriters(deps.connections, self.settings, self.writelog)
        self.approvals = ConflictApprovals(deps, self.settings, tables)

    def declare(self) -> Declaration:
        """Return the three feeds and the ten stages (sources, mappings, sinks, conflicts)."""
        stages: tuple[tuple[str, str, spec.StageHandler, frozenset[str] | None], ...] = (
            ("catalog-erp-products", "src.erp.product", self.on_erp_product, ERP),
            ("catalog-crm-products", "src.crm.product", self.on_crm_product, CRM),
            ("catalog-crm-prices", "src.crm.price-book-entry", self.on_crm_price, CRM),
            ("catalog-models-to-crm", "biz.catalog.product-model", self.on_model_changed, None),
            ("catalog-prices-to-crm", "biz.pricing.price", self.on_price_changed, None),
            ("catalog-edits-to-erp", "biz.catalog.product", self.on_product_edited, None),
            ("catalog-crm-product-sink", "cmd.crm.product", self.apply_crm_product, CRM),
            ("catalog-crm-price-sink", "cmd.crm.price-book-entry", self.apply_crm_price, CRM),
            ("catalog-erp-product-sink", "cmd.erp.product-model", self.apply_erp_product, ERP),
            ("catalog-conflicts", "biz.catalog.field-conflict", self.resolve_conflict, ERP | CRM),
        )
        if self.settings.conflicts_to == "oa":
            stages += (
                ("catalog-conflict-approval-requests", "cmd.oa.approval-instance",
                 self.approvals.on_request, OA),
                ("catalog-conflict-decisions", "src.oa.approval-instance",
                 self.approvals.on_instance, OA),
            )  # fmt: skip
        # Price changes in hand share CRM calls: two batches' worth, one written, one filling.
        in_flight = {"catalog-crm-price-sink": 2 * self.settings.price_batch_max}
        return Declaration(
            stages=tuple(
                StageSpec(
                    name, topic, handler, systems or frozenset(), max_in_flight=in_flight.get(name)
                )
                for name, topic, handler, systems in stages
            ),
            feeds=tuple(
                spec.Feed(
                    f"{system}.{name}",
                    system,
                    f"src.{system}.{name}",
                    (erp_feed if system == "erp" else crm_feed)(self.deps.connections, obj),
                    batch=crm_batch(self.deps.connections, obj) if system == "crm" else None,
                    entity=obj,
                )
                for system, name, obj in FEEDS
            ),
            emits=(
                *("biz.catalog.product-model", "biz.pricing.price", "biz.catalog.product"),
                *("cmd.crm.product", "cmd.crm.price-book-entry", "cmd.erp.product-model"),
                "biz.catalog.field-conflict",
                "cmd.oa.approval-instance",
            ),
        )

    def reconcilers(self) -> tuple[Reconciler, ...]:
        """Return what `bizbus reconcile` compares for the catalog: prices."""
        deps = self.deps
        return (prices_reconciler(deps.connections, self.settings, self.writers, now=deps.now),)

    def emit(self, payload: Payload, cause: Envelope[Any], origin: System) -> Emit:
        """Return `payload` as an event in the business case of `cause`."""
        return Emit(follow_up(payload, cause, source=SOURCE, origin=origin))

    def observe(
        self, system: Owner, obj: str, code: str, values: Values, *, own: bool
    ) -> tuple[Values | None, Verdict, float]:
        """Return the previous values, the verdict on one record seen in `system`, and when."""
        seen_at = self.deps.clock()  # before anything is published: later writes are newer
        stored = self.state.get(writelog_key(system, obj, code))
        previous: Values | None = stored["values"] if stored else None
        since = float(stored.get("at", 0.0)) if stored else 0.0
        over = self.writelog.overwritten(system, obj, code, values, since=since)
        changes = changed_fields(previous, values, over)
        echoes = self.writelog.echoes(system, obj, code, changes, own=own)
        verdict = classify(system, previous, values, echoes, self.settings, overwritten=over)
        self.deps.metrics.echoes("catalog", system, len(verdict.echoes))
        return previous, verdict, seen_at

    def settle(
        self, system: Owner, obj: str, code: str, record_id: str, values: Values,
        verdict: Verdict, seen_at: float,
    ) -> list[Output]:  # fmt: skip
        """Return the writes storing what was seen and spending its echoes (after the events)."""
        key = writelog_key(system, obj, code)
        stored = Put(self.state, key, {"id": record_id, "values": values, "at": seen_at})
        if not verdict.echoes:
            return [stored]
        echoes = {k: values[k] for k in verdict.echoes}
        return [stored, *self.writelog.consume(system, obj, code, echoes)]

    def owner_value(self, name: str, code: str) -> JsonValue:
        """Return the owner's last seen value of field `name` for a model (None: not seen)."""
        rule = self.settings.ownership[name]
        obj = ERP_PRODUCT if rule.owner == "erp" else rule.crm_object
        stored = self.state.get(writelog_key(rule.owner, obj, code))
        return stored["values"].get(name) if stored else None

    def conflicts(
        self, cause: Envelope[Any], system: Owner, obj: str, code: str, record_id: str,
        conflicts: Values, at: datetime,
    ) -> list[Output]:  # fmt: skip
        """Return one FieldConflictDetectedV1 per conflicting field."""
        found: list[Output] = []
        self.deps.metrics.conflicts("catalog", system, len(conflicts))
        for name, edited in sorted(conflicts.items()):
            log.warning("%s: %s edited in the %s, which does not own it", code, name, system)
            conflict = conflict_of(
                code, name, edited_in=system, obj=obj, record_id=record_id, edited=edited,
                owner_value=self.owner_value(name, code), detected_at=at, settings=self.settings,
            )  # fmt: skip
            found.append(self.emit(conflict, cause, system))
        return found

    # -- sources -----------------------------------------------------------------------

    async def on_erp_product(self, record: RawRecord) -> list[Output]:
        """An ERP product.template changed."""
        event, raw = captured(record, self.deps.keys)
        row = raw.record
        code = row.get("default_code")
        if not isinstance(code, str) or not code or raw.change_type == "delete":
            return []  # not a product model bizbus syncs
        values = erp_values(row, self.settings)
        erp = await self.deps.connections.erp()
        own = _erp_author(row) == await erp.uid()
        previous, verdict, seen_at = self.observe("erp", ERP_PRODUCT, code, values, own=own)
        outputs: list[Output] = []
        if verdict.first or set(verdict.edits) - {"list_price"}:
            model = model_changed(code, int(raw.record_id), values, previous, raw.modified_at)
            outputs.append(self.emit(model, event, "erp"))
        if "list_price" in verdict.edits and values.get("list_price") is not None:
            price = price_changed(code, values, previous, raw.modified_at, self.settings)
            outputs.append(self.emit(price, event, "erp"))
        outputs += self.conflicts(event, "erp", ERP_PRODUCT, code, raw.record_id,
                                  verdict.conflicts, raw.modified_at)  # fmt: skip
        return outputs + self.settle("erp", ERP_PRODUCT, code, raw.record_id, values, verdict,
                                     seen_at)  # fmt: skip

    async def on_crm_product(self, record: RawRecord) -> list[Output]:
        """A CRM Product2 changed."""
        event, raw = captured(record, self.deps.keys)
        row = raw.record
        code = crm_model_code(row)
        if code is None or raw.change_type == "delete":
            return []
        crm = await self.deps.connections.crm()
        values = crm_values(row, self.settings, "Product2")
        own = crm.echo_hint(row) == crm.client_tag
        _, verdict, seen_at = self.observe("crm", "Product2", code, values, own=own)
        outputs: list[Output] = []
        if verdict.edits:
            edit = product_edited(code, raw.record_id, verdict.edits, row, self.settings)
            outputs.append(self.emit(edit, event, "crm"))
        outputs += self.conflicts(event, "crm", "Product2", code, raw.record_id,
                                  verdict.conflicts, raw.modified_at)  # fmt: skip
        return outputs + self.settle("crm", "Product2", code, raw.record_id, values, verdict,
                                     seen_at)  # fmt: skip

    async def on_crm_price(self, record: RawRecord) -> list[Output]:
        """A CRM price-book entry changed (only the configured price book is synced)."""
        event, raw = captured(record, self.deps.keys)
        row = raw.record
        crm = await self.deps.connections.crm()
        if raw.change_type == "delete":
            return []
        if row.get("Pricebook2Id") != await self.writers.price_book_id(crm):
            return []
        product = await crm.get("Product2", str(row["Product2Id"]),
                                fields=["Id", "ProductCode", "ErpProductRef__c"])  # fmt: skip
        code = crm_model_code(product)
        if code is None:
            return []
        values = crm_values(row, self.settings, "PricebookEntry")
        own = crm.echo_hint(row) == crm.client_tag
        _, verdict, seen_at = self.observe("crm", "PricebookEntry", code, values, own=own)
        outputs = self.conflicts(event, "crm", "PricebookEntry", code, raw.record_id,
                                 verdict.conflicts, raw.modified_at)  # fmt: skip
        return outputs + self.settle("crm", "PricebookEntry", code, raw.record_id, values,
                                     verdict, seen_at)  # fmt: skip

    # -- canonical events → commands ---------------------------------------------------

    async def on_model_changed(self, record: RawRecord) -> list[Output]:
        """ProductModelChangedV1 → the CRM product upsert command."""
        event, model = decode_as(
            record, schemas.ProductModelChangedV1, "a product model", self.deps.keys
        )
        return [self.emit(map_model_to_crm_command(model), event, "bizbus")]

    async def on_price_changed(self, record: RawRecord) -> list[Output]:
        """PriceChangedV1 of the synced list price → the CRM price-book entry command."""
        event, price = decode_as(record, schemas.PriceChangedV1, "a price change", self.deps.keys)
        if price.pricelist_code != self.settings.pricelist_code:
            return []
        return [self.emit(map_price_to_crm_command(price, self.settings), event, "bizbus")]

    async def on_product_edited(self, record: RawRecord) -> list[Output]:
        """ProductEditedV1 → the ERP product update command."""
        event, edit = decode_as(record, schemas.ProductEditedV1, "a product edit", self.deps.keys)
        command = map_edit_to_erp_command(edit)
        return [] if command is None else [self.emit(command, event, "bizbus")]

    # -- sinks -------------------------------------------------------------------------

    async def apply_crm_product(self, record: RawRecord) -> list[Output]:
        """cmd.crm.product → CRM Product2."""
        _, command = decode_as(
            record, schemas.ProductUpsertRequestedV1, "a product upsert", self.deps.keys
        )
        product_id = await self.writers.upsert_crm_product(command)
        self.deps.xref.record(f"product:{command.model_code}", crm=product_id)
        return []

    async def apply_crm_price(self, record: RawRecord) -> list[Output]:
        """cmd.crm.price-book-entry → CRM price-book entry (+ open orders flagged)."""
        _, command = decode_as(
            record, schemas.PriceBookEntryUpsertRequestedV1, "a price-book upsert", self.deps.keys
        )
        await self.writers.upsert_crm_price(command)
        return []

    async def apply_erp_product(self, record: RawRecord) -> list[Output]:
        """cmd.erp.product-model → ERP product."""
        _, command = decode_as(
            record, schemas.ProductModelUpdateRequestedV1, "a product update", self.deps.keys
        )
        await self.writers.update_erp_product(command)
        return []

    async def resolve_conflict(self, record: RawRecord) -> list[Output]:
        """biz.catalog.field-conflict → the policy's write, a question to people, their answer."""
        event = decode(record, self.deps.keys)
        if isinstance(event.data, schemas.FieldConflictDecidedV1):
            decided = event.data
            log.info("%s: %s conflict decided in the OA: %s", decided.conflict.model_code,
                     decided.conflict.field, decided.resolution)  # fmt: skip
            await self.writers.resolve(
                decided.conflict.model_copy(update={"resolution": decided.resolution})
            )
            return []
        _, conflict = decode_as(
            record, schemas.FieldConflictDetectedV1, "a field conflict", self.deps.keys
        )
        if conflict.resolution == "ask-people":
            return self.approvals.ask(event, conflict)
        await self.writers.resolve(conflict)
        return []
