"""ERP stock and production → `StockChangedV1` → the CRM product's availability fields.

`src.erp.stock-quant` (this flow's feed) and `src.erp.mrp-production` (the fulfilment flow's
feed) name a product whose level may have moved; the level is read back from the ERP (the
warehouse's internal quants, its open manufacturing orders), so a redelivered or late record
never publishes an old level, and a burst of moves of one product read after the last of them
publishes one level. The levels of every product in hand are read together (three ERP calls
for up to 100 products: their codes, quants and open MOs). A level equal to the last one
published is dropped (a global table holds it, written once the event is acked).
`biz.inventory.stock` (key `<warehouse>:<model>`) → the CRM Product2 fields
`Available_Quantity__c`, `Incoming_Quantity__c`, `Next_Availability_Date__c`, batched
(`crm.py`), changed values only. A level older than the last applied to its product is
skipped. The catalog flow syncs none of these fields, so the writes come back from the CRM feed
as no edit: no echo reaches the ERP.
"""

import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from bizbus.flows.context import FlowDeps
from bizbus.flows.runtime import spec
from bizbus.flows.runtime.coalesce import Coalescer
from bizbus.flows.runtime.record import RawRecord
from bizbus.flows.runtime.spec import Declaration, Emit, Output, Put, StageSpec
from bizbus.flows.shared import CRM, ERP, captured, decode_as, erp_feed, follow_up
from bizbus.flows.stock_visibility.crm import write_availability
from bizbus.flows.stock_visibility.mapping import (
    Availability,
    LevelValues,
    Trigger,
    availability,
    level_values,
    product_id_of,
    production_domain,
    quant_domain,
    reason_of,
    rows_by_product,
    stock_level,
)
from bizbus.flows.stock_visibility.settings import StockSettings, load_stock_settings
from bizbus.schemas import TOPICS, Envelope, StockChangedV1

log = logging.getLogger("bizbus.stock")
SOURCE = "bizbus://flows/stock_visibility"
QUANTS = "src.erp.stock-quant"
QUANT_MODEL = "stock.quant"
PRODUCTIONS = "src.erp.mrp-production"
LEVELS_TOPIC = "biz.inventory.stock"
# Written by both source stages (one partition count), keyed by level: every worker holds it.
LEVELS = spec.TableSpec("stock-levels", TOPICS[QUANTS].partitions, global_=True)
APPLIED = spec.TableSpec("stock-crm-applied", TOPICS[LEVELS_TOPIC].partitions)
# Products whose levels are read together: three ERP calls for the lot.
READ_BATCH = 100
READ_LINGER_S = 0.02


@dataclass(frozen=True, slots=True)
class ProductLevel:
    """A product model's level as read from the ERP, and when the read began."""

    code: str
    uom: str
    values: LevelValues


class StockVisibilityFlow:
    """Stock levels from the ERP, availability into the CRM (one per worker)."""

    TABLES: ClassVar[tuple[spec.TableSpec, ...]] = (LEVELS, APPLIED)

    def __init__(
        self,
        deps: FlowDeps,
        tables: spec.Tables | None = None,
        *,
        settings: StockSettings | None = None,
    ) -> None:
        self.deps = deps
        self.settings = settings or load_stock_settings()
        self.zone = ZoneInfo(self.settings.timezone)
        tables = tables or spec.fresh_tables(*self.TABLES)
        self.levels = tables[LEVELS.name]
        self.applied = tables[APPLIED.name]
        linger = self.settings.batch_linger_ms
        self.writes: Coalescer[Availability, None] = Coalescer(
            self._write, max_items=self.settings.batch_max, linger_s=linger / 1000,
            max_wait_s=max(self.settings.batch_max_wait_ms, linger) / 1000,
        )  # fmt: skip
        # Each record's read begins after it arrived (a submit joins the next batch only).
        self._read_keys = itertools.count()
        self.reads: Coalescer[int, ProductLevel | None] = Coalescer(
            self._read_levels, max_items=READ_BATCH, linger_s=READ_LINGER_S,
            max_wait_s=4 * READ_LINGER_S,
        )  # fmt: skip

    def declare(self) -> Declaration:
        """Return the quant feed and the three stages (quants, productions, the CRM sink)."""
        # Levels in hand share CRM calls: two batches' worth, one written, one filling.
        in_flight = 2 * self.settings.batch_max
        sink = StageSpec("stock-crm-availability", LEVELS_TOPIC, self.apply_crm, CRM,
                         max_in_flight=in_flight)  # fmt: skip
        # A push hint about a quant (ERP_MODE=push) polls this feed only.
        feed = spec.Feed("erp.stock-quant", "erp", QUANTS,
                         erp_feed(self.deps.connections, QUANT_MODEL),
                         entity=QUANT_MODEL)  # fmt: skip
        return Declaration(
            stages=(
                StageSpec("stock-quants", QUANTS, self.on_quant, ERP),
                StageSpec("stock-productions", PRODUCTIONS, self.on_production, ERP),
                sink,
            ),
            feeds=(feed,),
            emits=(LEVELS_TOPIC,),
        )

    # -- ERP → levels --------------------------------------------------------------------

    async def on_quant(self, record: RawRecord) -> list[Output]:
        """A stock.quant changed: re-read its product's level."""
        event, raw = captured(record, self.deps.keys, entity="stock.quant")
        return await self.refresh(event, product_id_of(raw.record.get("product_id")), "quant")

    async def on_production(self, record: RawRecord) -> list[Output]:
        """A manufacturing order changed: re-read its product's level (incoming, finish)."""
        event, raw = captured(record, self.deps.keys, entity="mrp.production")
        product = product_id_of(raw.record.get("product_id"))
        return await self.refresh(event, product, "production")

    async def refresh(
        self, cause: Envelope[Any], product_id: int | None, trigger: Trigger
    ) -> list[Output]:
        """Read a product's level from the ERP; publish it when it differs from the last."""
        if product_id is None:
            return []
        read_at = self.deps.now()  # before reading: a later read always carries a later time
        # Keys are unique: records of one product in the same batch share its one read.
        read = await self.reads.submit(next(self._read_keys), product_id)
        if read is None:
            return []  # not a product model bizbus knows
        values, code, warehouse = read.values, read.code, self.settings.warehouse_code
        key = f"{warehouse}:{code}"
        stored = self.levels.get(key)
        previous = stored["values"] if stored else None
        if previous == values:
            return []
        level = stock_level(
            code=code, uom=read.uom, warehouse=warehouse,
            values=values, reason=reason_of(previous, values, trigger), at=read_at,
        )  # fmt: skip
        return [
            Emit(follow_up(level, cause, source=SOURCE, origin="erp")),
            Put(self.levels, key, {"values": values, "at": read_at.timestamp()}),
        ]

    async def _read_levels(self, product_ids: Sequence[int]) -> list[ProductLevel | None]:
        """Read the levels of several products: their codes, quants and open MOs, one call each."""
        erp = await self.deps.connections.erp()
        ids = list(dict.fromkeys(product_ids))
        # A read: Odoo refuses to delete a product that has quants or MOs, so each id exists.
        rows = await erp.read("product.product", ids, fields=["default_code", "uom_name"])
        products = {int(row["id"]): row for row in rows if isinstance(row, dict)}
        warehouse = self.settings.warehouse_code
        quants = rows_by_product(await erp.search_read(
            "stock.quant", quant_domain(ids, warehouse),
            fields=["product_id", "quantity", "reserved_quantity"],
        ))  # fmt: skip
        productions = rows_by_product(await erp.search_read(
            "mrp.production", production_domain(ids),
            fields=["product_id", "product_qty", "date_finished"],
        ))  # fmt: skip
        levels: dict[int, ProductLevel | None] = {}
        for product_id in ids:
            row = products.get(product_id) or {}
            code, uom = row.get("default_code"), row.get("uom_name")
            if not isinstance(code, str) or not code:
                levels[product_id] = None
                continue
            values = level_values(quants.get(product_id, []), productions.get(product_id, []))
            levels[product_id] = ProductLevel(
                code, uom if isinstance(uom, str) and uom else "Units", values
            )
        return [levels[product_id] for product_id in product_ids]

    # -- levels → CRM --------------------------------------------------------------------

    async def apply_crm(self, record: RawRecord) -> list[Output]:
        """A level → the CRM product's availability (batched with the others in hand)."""
        _, level = decode_as(record, StockChangedV1, "a stock level", self.deps.keys)
        if level.warehouse_code != self.settings.warehouse_code:
            return []
        key = level.entity_key()
        stamp = level.changed_at.timestamp()
        last = self.applied.get(key)
        if last is not None and float(last) > stamp:
            log.info("%s: a level read before the one applied is skipped", key)
            return []
        await self.writes.submit(level.model_code, availability(level, self.zone))
        return [Put(self.applied, key, stamp)]

    async def _write(self, changes: Sequence[Availability]) -> list[Exception | None]:
        crm = await self.deps.connections.crm()
        return await write_availability(crm, changes)
