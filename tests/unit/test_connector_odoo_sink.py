"""Odoo sink: search first, then create, write only what changed, or nothing; orders and trips."""

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from bizbus.connectors.base import Outcome, SinkCommand
from bizbus.connectors.errors import MappingError, RejectedError, SchemaError
from bizbus.connectors.odoo import same_value
from tests.unit.test_connector_odoo_fake import FakeOdoo


@pytest.fixture
def fake() -> FakeOdoo:
    fake = FakeOdoo()
    fake.add("res.partner", ref="C10001", name="上海电气")
    fake.add("product.product", default_code="HL-VMC850", name="立式加工中心")
    fake.add("product.product", default_code="HL-SM-7.5", name="伺服电机")
    fake.add("hr.employee", barcode="E1001", work_email="zhang.wei@example.cn")
    fake.add("hr.leave.type", code="TRIP", name="出差 / Business Trip")
    fake.calls.clear()
    return fake


def test_same_value_reads_odoo_shapes() -> None:
    assert same_value([7, "上海电气"], 7)
    assert same_value(False, None) and same_value(False, "")
    assert same_value(268000.0, Decimal("268000.00")) and not same_value(1.0, "1.5")
    assert same_value("2025-06-01", date(2025, 6, 1))
    assert not same_value(False, 5.0) and same_value(True, True) and not same_value(True, 1)


async def test_partner_create_then_unchanged_then_write_only_the_changed_field(
    fake: FakeOdoo,
) -> None:
    async with fake.connector() as erp:
        command = SinkCommand("res.partner", "C20001", {"name": "苏州客户", "city": "苏州"})
        created = await erp.apply(command)
        calls_after_create = list(fake.calls)
        fake.calls.clear()
        same = await erp.apply(command)
        unchanged_calls = list(fake.calls)
        changed = await erp.apply(SinkCommand("res.partner", "C20001",
                                              {"name": "苏州客户", "city": "无锡"}))  # fmt: skip
    assert created.outcome is Outcome.CREATED and calls_after_create == [
        ("res.partner", "search_read"), ("res.partner", "create")]  # fmt: skip
    assert same.outcome is Outcome.UNCHANGED and unchanged_calls == [("res.partner", "search_read")]
    assert changed.outcome is Outcome.UPDATED
    assert fake.calls[-1] == ("res.partner", "write")
    assert fake.bodies[-1]["params"]["args"][5] == [[int(created.external_ids["odoo_id"])],
                                                    {"city": "无锡"}]  # fmt: skip
    [record] = [r for r in fake.rows("res.partner") if r["ref"] == "C20001"]
    assert record["city"] == "无锡" and created.external_ids == changed.external_ids


async def test_two_records_with_one_key_are_rejected(fake: FakeOdoo) -> None:
    fake.add("res.partner", ref="C10001", name="duplicate")
    async with fake.connector() as erp:
        with pytest.raises(RejectedError, match=r"several res\.partner records have that ref"):
            await erp.apply(SinkCommand("res.partner", "C10001", {"name": "x"}))


async def test_a_payload_contradicting_its_key_is_a_schema_error(fake: FakeOdoo) -> None:
    async with fake.connector() as erp:
        with pytest.raises(SchemaError, match="sets ref unlike its key"):
            await erp.apply(SinkCommand("res.partner", "C1", {"ref": "C2"}))
        with pytest.raises(SchemaError, match="read-only"):
            await erp.apply(SinkCommand("stock.picking", "WH/OUT/1", {}))


ORDER: dict[str, Any] = {
    "partner_ref": "C10001",
    "confirm": True,
    "order_line": [
        {"product_default_code": "HL-VMC850", "product_uom_qty": 1, "price_unit": 260000},
        {"product_default_code": "HL-SM-7.5", "product_uom_qty": 2, "price_unit": 6800.0},
    ],
}


async def test_sale_order_is_created_with_lines_and_confirmed_once(fake: FakeOdoo) -> None:
    command = SinkCommand("sale.order", "CRM-ORD-1", ORDER)
    async with fake.connector() as erp:
        first = await erp.apply(command)
        second = await erp.apply(command)
    assert first.outcome is Outcome.CREATED and first.external_ids["state"] == "sale"
    assert second.outcome is Outcome.UNCHANGED
    assert first.external_ids["name"] == second.external_ids["name"]
    assert fake.writes() == [("sale.order", "create"), ("sale.order", "action_confirm")]
    create = next(b for b in fake.bodies if b["params"]["args"][4:5] == ["create"])
    lines = create["params"]["args"][5][0]["order_line"]
    assert [line[:2] for line in lines] == [[0, 0], [0, 0]]
    assert lines[0][2] == {"product_id": 102, "product_uom_qty": 1, "price_unit": 260000}
    assert len(fake.rows("sale.order.line")) == 2 and len(fake.rows("sale.order")) == 1


async def test_draft_order_lines_are_replaced_only_when_they_differ(fake: FakeOdoo) -> None:
    draft = {**ORDER, "confirm": False}
    async with fake.connector() as erp:
        await erp.apply(SinkCommand("sale.order", "CRM-ORD-2", draft))
        fake.calls.clear()
        assert (await erp.apply(SinkCommand("sale.order", "CRM-ORD-2", draft))).outcome is (
            Outcome.UNCHANGED
        )
        assert fake.writes() == []
        fewer = {**draft, "order_line": draft["order_line"][:1]}
        result = await erp.apply(SinkCommand("sale.order", "CRM-ORD-2", fewer))
    assert result.outcome is Outcome.UPDATED
    assert [line["product_id"] for line in fake.rows("sale.order.line")] == [102]


async def test_lines_of_a_confirmed_order_are_not_rewritten(fake: FakeOdoo) -> None:
    async with fake.connector() as erp:
        await erp.apply(SinkCommand("sale.order", "CRM-ORD-3", ORDER))
        changed = {**ORDER, "order_line": ORDER["order_line"][:1]}
        with pytest.raises(RejectedError, match="is sale; its lines cannot be changed"):
            await erp.apply(SinkCommand("sale.order", "CRM-ORD-3", changed))
    assert len(fake.rows("sale.order.line")) == 2


async def test_unknown_references_are_mapping_errors_before_any_write(fake: FakeOdoo) -> None:
    bad_product = {
        **ORDER,
        "order_line": [{"product_default_code": "NOPE-1", "product_uom_qty": 1}],
    }
    async with fake.connector() as erp:
        with pytest.raises(MappingError, match="unknown product default_code NOPE-1"):
            await erp.apply(SinkCommand("sale.order", "CRM-ORD-4", bad_product))
        with pytest.raises(MappingError, match="unknown customer ref C99999"):
            await erp.apply(
                SinkCommand("sale.order", "CRM-ORD-4", {**ORDER, "partner_ref": "C99999"})
            )
        with pytest.raises(MappingError, match="unknown employee work email") as caught:
            await erp.apply(
                SinkCommand("hr.leave", "OA-9", {"employee_email": "nobody@example.cn"})
            )
    assert "nobody" not in str(caught.value)  # an e-mail address is personal data
    assert fake.writes() == []


async def test_reference_ids_are_looked_up_once(fake: FakeOdoo) -> None:
    async with fake.connector() as erp:
        for n in range(3):
            await erp.apply(SinkCommand("sale.order", f"CRM-ORD-C{n}", {**ORDER, "confirm": False}))
    assert fake.calls.count(("res.partner", "search")) == 1
    assert fake.calls.count(("product.product", "search")) == 2


TRIP = {
    "employee_barcode": "E1001",
    "date_from": date(2025, 6, 1),
    "date_to": date(2025, 6, 3),
    "name": "广交会",
    "x_destination": "广州",
    "state": "approved",
}


async def test_business_trip_is_created_approved_then_refused_once(fake: FakeOdoo) -> None:
    async with fake.connector() as erp:
        created = await erp.apply(SinkCommand("hr.leave", "OA-1", TRIP))
        again = await erp.apply(SinkCommand("hr.leave", "OA-1", TRIP))
        revoked = await erp.apply(SinkCommand("hr.leave", "OA-1", {**TRIP, "state": "cancelled"}))
        replay = await erp.apply(SinkCommand("hr.leave", "OA-1", {**TRIP, "state": "cancelled"}))
        late_approval = await erp.apply(SinkCommand("hr.leave", "OA-1", TRIP))
    assert [created.outcome, again.outcome, revoked.outcome, replay.outcome] == [
        Outcome.CREATED, Outcome.UNCHANGED, Outcome.UPDATED, Outcome.UNCHANGED]  # fmt: skip
    assert (
        late_approval.outcome is Outcome.UNCHANGED
        and late_approval.external_ids["state"] == "refuse"
    )
    assert fake.writes() == [("hr.leave", "create"), ("hr.leave", "action_validate"),
                             ("hr.leave", "action_refuse")]  # fmt: skip
    [leave] = fake.rows("hr.leave")
    assert leave["employee_id"] == 104 and leave["holiday_status_id"] == 105
    assert leave["request_date_from"] == "2025-06-01" and leave["x_external_ref"] == "OA-1"


async def test_a_missing_trip_type_names_the_setting(fake: FakeOdoo) -> None:
    async with fake.connector(trip_leave_type="BIZTRIP") as erp:
        with pytest.raises(MappingError, match="BIZBUS_ERP_TRIP_LEAVE_TYPE"):
            await erp.apply(SinkCommand("hr.leave", "OA-2", TRIP))
