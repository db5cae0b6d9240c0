"""Stock visibility: ERP rows → one level per product model → changed CRM availability only."""

import asyncio
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bizbus.connectors.errors import ConfigError, TransientError
from bizbus.connectors.salesforce.collections import SaveResult
from bizbus.flows.stock_visibility import StockVisibilityFlow
from bizbus.flows.stock_visibility.crm import plan_writes
from bizbus.flows.stock_visibility.mapping import (
    AVAILABLE,
    INCOMING,
    NEXT_DATE,
    Availability,
    availability,
    changed_fields,
    level_values,
    reason_of,
    stock_level,
)
from bizbus.flows.stock_visibility.settings import StockSettings, load_stock_settings
from bizbus.schemas import StockChangedV1, make_event
from tests.unit.test_flows_fakes import (
    WHEN,
    Clock,
    deps,
    emitted,
    record_of,
    settle,
    source_record,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
CODE = "HL-CK6150"
PRODUCT_ID = 7
QUANTS = [{"quantity": 10.0, "reserved_quantity": 2.0}, {"quantity": 4.5, "reserved_quantity": 0}]
MOS = [{"product_qty": 3.0, "date_finished": "2026-12-02 17:00:00"},
       {"product_qty": 2.0, "date_finished": "2026-12-05 01:00:00"}]  # fmt: skip


def test_a_level_sums_the_warehouse_quants_and_the_open_production() -> None:
    values = level_values(QUANTS, MOS)
    assert values == {"on_hand": "14.5", "reserved": "2", "incoming": "5",
                      "next": "2026-12-02T17:00:00+00:00"}  # fmt: skip
    negative = level_values([{"quantity": -3.0, "reserved_quantity": 1.0}], [])
    assert negative == {"on_hand": "0", "reserved": "0", "incoming": "0", "next": None}


def test_the_reason_is_told_from_the_level_before_and_after() -> None:
    before = level_values(QUANTS, MOS)
    made = level_values([*QUANTS, {"quantity": 3.0}], MOS[1:])
    assert reason_of(None, before, "quant") == "adjustment"
    assert reason_of(before, made, "production") == "production"
    assert reason_of(before, level_values([*QUANTS, {"quantity": 1.0}], MOS), "quant") == "receipt"
    assert reason_of(before, level_values(QUANTS[:1], MOS), "quant") == "delivery"
    reserved = level_values([{"quantity": 10.0, "reserved_quantity": 5.0}, QUANTS[1]], MOS)
    assert reason_of(before, reserved, "quant") == "reservation"


def level(values: dict[str, str | None], at: datetime = WHEN) -> StockChangedV1:
    return stock_level(code=CODE, uom="台", warehouse="WH", values=values, reason="receipt", at=at)


def test_the_crm_availability_is_free_stock_and_the_local_date_of_the_next_finish() -> None:
    shown = availability(level(level_values(QUANTS, MOS)), SHANGHAI)
    # 17:00 UTC is the next morning in Shanghai
    assert shown == Availability(CODE, Decimal("12.5"), Decimal(5), date(2026, 12, 3))
    assert shown.crm_fields() == {AVAILABLE: 12.5, INCOMING: 5.0, NEXT_DATE: "2026-12-03"}
    none_planned = availability(level(level_values(QUANTS, [])), SHANGHAI)
    assert none_planned.crm_fields()[NEXT_DATE] is None


def test_only_fields_whose_crm_value_differs_are_written() -> None:
    wanted = Availability(CODE, Decimal("12.5"), Decimal(5), date(2026, 12, 3))
    current = {AVAILABLE: 12.5, INCOMING: 5, NEXT_DATE: "2026-12-03"}
    assert changed_fields(current, wanted) == {}
    assert changed_fields(current | {AVAILABLE: 11.0}, wanted) == {AVAILABLE: 12.5}
    assert changed_fields({AVAILABLE: None, INCOMING: None, NEXT_DATE: None}, wanted) == {
        AVAILABLE: 12.5, INCOMING: 5.0, NEXT_DATE: "2026-12-03",
    }  # fmt: skip
    cleared = Availability(CODE, Decimal("12.5"), Decimal(0), None)
    assert changed_fields(current, cleared) == {INCOMING: 0.0, NEXT_DATE: None}


def test_a_batch_plans_writes_for_changed_products_and_retries_unknown_ones() -> None:
    rows: list[dict[str, Any]] = [
        {"Id": "01tNAMED", "ProductCode": "A", "ErpProductRef__c": None},
        {"Id": "01tLINKED", "ProductCode": "A-old", "ErpProductRef__c": "A"},
        {"Id": "01tB", "ProductCode": "B", AVAILABLE: 1.0, INCOMING: 0.0, NEXT_DATE: None},
    ]
    changes = [
        Availability("A", Decimal(2), Decimal(0), None),
        Availability("B", Decimal(1), Decimal(0), None),
        Availability("C", Decimal(1), Decimal(0), None),
    ]
    updates, results = plan_writes(rows, changes)
    assert updates == [(0, "01tLINKED", {AVAILABLE: 2.0, INCOMING: 0.0})]
    assert results[:2] == [None, None] and isinstance(results[2], TransientError)


class StockErp:
    """The ERP's answers for one product: its code, its warehouse quants, its open MOs."""

    def __init__(self) -> None:
        self.quants: list[dict[str, Any]] = [dict(q) for q in QUANTS]
        self.mos: list[dict[str, Any]] = [dict(mo) for mo in MOS]
        self.calls = 0

    async def read(self, model: str, ids: list[int], *, fields: Any = None) -> list[dict[str, Any]]:
        self.calls += 1
        assert model == "product.product" and ids == [PRODUCT_ID]
        return [{"id": PRODUCT_ID, "default_code": CODE, "uom_name": "台"}]

    async def search_read(
        self, model: str, domain: list[Any], *, fields: Any = None
    ) -> list[dict[str, Any]]:
        self.calls += 1
        assert ("product_id", "in", [PRODUCT_ID]) in domain
        rows = self.quants if model == "stock.quant" else self.mos
        return [{**row, "product_id": [PRODUCT_ID, CODE]} for row in rows]  # a many2one


class StockCrm:
    """The CRM's Product2 rows by code; counts lookup and write calls."""

    def __init__(self, rows: dict[str, dict[str, Any]]) -> None:
        self.rows = rows
        self.lookups = 0
        self.writes: list[list[tuple[str, str, dict[str, Any]]]] = []

    async def query_several(self, queries: list[str]) -> list[list[dict[str, Any]]]:
        self.lookups += 1
        return [[row for code, row in self.rows.items() if f"'{code}'" in soql]
                for soql in queries]  # fmt: skip

    async def update_many(self, records: list[tuple[str, str, dict[str, Any]]]) -> list[Any]:
        self.writes.append(records)
        for _, rid, fields in records:
            next(row for row in self.rows.values() if row["Id"] == rid).update(fields)
        return [SaveResult(rid, True) for _, rid, _ in records]


def stock_flow(erp: Any = None, crm: Any = None, clock: Any = None) -> StockVisibilityFlow:
    settings = StockSettings(batch_linger_ms=10, batch_max_wait_ms=50)
    return StockVisibilityFlow(deps(crm=crm, erp=erp, clock=clock), settings=settings)


def quant_record(quant_id: int) -> Any:
    row = {"id": quant_id, "product_id": [PRODUCT_ID, f"[{CODE}] 车床"], "quantity": 1.0}
    return source_record("erp", "stock.quant", row, "src.erp.stock-quant")


async def test_moves_of_one_product_read_after_the_last_publish_one_level() -> None:
    erp = StockErp()
    flow = stock_flow(erp)
    [first] = await settle(await flow.on_quant(quant_record(1)))
    assert first.subject == f"WH:{CODE}" and first.data.quantity_on_hand == Decimal("14.5")
    assert await flow.on_quant(quant_record(2)) == []  # same level: nothing new
    erp.quants[0]["quantity"] = 8.0
    [moved] = await settle(await flow.on_quant(quant_record(1)))
    assert moved.data.quantity_on_hand == Decimal("12.5") and moved.data.reason == "delivery"
    mo = {"id": 3, "product_id": [PRODUCT_ID, CODE], "state": "done"}
    erp.mos.pop(0)
    produced = source_record("erp", "mrp.production", mo, "src.erp.mrp-production")
    [made] = emitted(await flow.on_production(produced))
    assert made.data.quantity_incoming == Decimal(2) and made.data.reason == "production"


async def test_a_quant_without_a_product_model_publishes_nothing() -> None:
    class NoCode(StockErp):
        async def read(self, model: str, ids: list[int], *, fields: Any = None) -> Any:
            return [{"id": PRODUCT_ID, "default_code": False, "uom_name": "台"}]

    assert await stock_flow(NoCode()).on_quant(quant_record(1)) == []


def level_record(code: str, available: str, at: datetime = WHEN) -> Any:
    payload = stock_level(code=code, uom="台", warehouse="WH", reason="receipt", at=at,
                          values={"on_hand": available, "reserved": "0", "incoming": "0",
                                  "next": None})  # fmt: skip
    event = make_event(payload, source="bizbus://tests", correlationid="c", origin="erp")
    return record_of(event, "biz.inventory.stock")


def crm_rows(*codes: str) -> dict[str, dict[str, Any]]:
    return {code: {"Id": f"01t{code}", "ProductCode": code, "ErpProductRef__c": code,
                   AVAILABLE: 0.0, INCOMING: 0.0, NEXT_DATE: None} for code in codes}  # fmt: skip


async def test_levels_in_hand_share_one_lookup_and_one_write_of_the_changed_products() -> None:
    crm = StockCrm(crm_rows("A", "B", "C"))
    flow = stock_flow(crm=crm)
    handled = await asyncio.gather(
        flow.apply_crm(level_record("A", "5")),
        flow.apply_crm(level_record("B", "0")),  # unchanged: not written
        flow.apply_crm(level_record("C", "7")),
    )
    await settle([output for outputs in handled for output in outputs])
    assert crm.lookups == 1 and len(crm.writes) == 1
    assert sorted(rid for _, rid, _ in crm.writes[0]) == ["01tA", "01tC"]
    assert crm.rows["A"][AVAILABLE] == 5.0 and crm.rows["C"][AVAILABLE] == 7.0
    await settle(await flow.apply_crm(level_record("A", "5", WHEN + timedelta(seconds=1))))
    assert len(crm.writes) == 1  # the same value again: looked up, not written


async def test_a_level_read_before_the_one_applied_is_skipped() -> None:
    crm = StockCrm(crm_rows("A"))
    flow = stock_flow(crm=crm, clock=Clock())
    await settle(await flow.apply_crm(level_record("A", "9", WHEN + timedelta(seconds=5))))
    assert await flow.apply_crm(level_record("A", "3", WHEN)) == []
    assert crm.rows["A"][AVAILABLE] == 9.0 and crm.lookups == 1
    assert datetime.fromtimestamp(flow.applied["WH:A"], UTC) == WHEN + timedelta(seconds=5)


def test_a_bad_stock_setting_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIZBUS_STOCK_TIMEZONE", "Mars/Olympus")
    with pytest.raises(ConfigError, match="BIZBUS_STOCK_TIMEZONE"):
        load_stock_settings()


async def test_records_in_hand_share_one_read_of_their_products_levels() -> None:
    erp = StockErp()
    flow = stock_flow(erp)
    outputs = await asyncio.gather(*(flow.on_quant(quant_record(n)) for n in (1, 2, 3)))
    assert erp.calls == 3  # codes, quants, MOs: once for the three records
    assert all(emitted(out)[0].data.quantity_on_hand == Decimal("14.5") for out in outputs)
