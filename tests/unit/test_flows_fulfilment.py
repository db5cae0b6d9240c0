"""Fulfilment: Odoo records (as the sandbox ERP's feeds read them) → events → status; handlers."""

import itertools
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from bizbus.connectors.errors import MappingError
from bizbus.flows.fulfilment import FulfilmentFlow
from bizbus.flows.fulfilment.mapping import (
    ErpProduct,
    map_invoice,
    map_production,
    map_sale_order,
    map_shipment,
    sale_order_name,
    status_for,
)
from bizbus.flows.order_updates.flow import order_fields
from bizbus.flows.shared import crm_order_deal
from bizbus.schemas import (
    InvoicePostedV1,
    ManufacturingOrderPlannedV1,
    ManufacturingOrderProgressedV1,
    OrderStatus,
    OrderUpdateRequestedV1,
    SalesOrderUpsertedV1,
    ShipmentDispatchedV1,
)
from tests.unit.test_flows_fakes import FakeErp, deps, emitted, event_record, source_record

PRODUCTS = {
    1: ErpProduct(1, "HL-VMC850", "台"),
    5: ErpProduct(5, "HL-SM-7.5", "件"),
}
SALE_ORDER: dict[str, Any] = {
    "id": 2, "write_date": "2026-11-27 06:33:38", "write_uid": [1, "OdooBot"], "name": "S00002",
    "client_order_ref": "801000000000042AAA", "partner_id": [8, "上海电气自动化设备有限公司"],
    "state": "sale", "date_order": "2026-11-27 06:33:33", "commitment_date": False,
    "user_id": [2, "系统管理员 (Administrator)"], "origin": False, "amount_untaxed": 549600.0,
    "amount_total": 549600.0, "currency_id": [1, "CNY"], "invoice_status": "invoiced",
    "delivery_status": "full", "order_line": [2, 3],
}  # fmt: skip
LINES: list[dict[str, Any]] = [
    {"id": 3, "product_id": [5, "[HL-SM-7.5] HL-SM-7.5 伺服电机 7.5kW"], "name": "伺服电机",
     "product_uom_qty": 2.0, "price_unit": 6800.0, "discount": 0.0, "qty_delivered": 2.0,
     "qty_invoiced": 0.0},
    {"id": 2, "product_id": [1, "[HL-VMC850] HL-VMC850 立式加工中心"], "name": "立式加工中心",
     "product_uom_qty": 2.0, "price_unit": 268000.0, "discount": 0.0, "qty_delivered": 0.0,
     "qty_invoiced": 0.0},
]  # fmt: skip
PRODUCTION: dict[str, Any] = {
    "id": 1, "write_date": "2026-11-27 06:33:36", "write_uid": [1, "OdooBot"],
    "name": "WH/MO/00001", "origin": "S00002",
    "product_id": [1, "[HL-VMC850] HL-VMC850 立式加工中心"],
    "product_qty": 2.0, "qty_producing": 2.0, "state": "done", "date_start": "2026-11-27 06:33:35",
    "date_finished": "2026-11-27 06:33:36", "date_deadline": "2026-11-27 06:33:33",
    "x_sale_line_id": [2, "[HL-VMC850] HL-VMC850 立式加工中心"],
}  # fmt: skip
PICKING: dict[str, Any] = {
    "id": 1, "write_date": "2026-11-27 06:33:37", "write_uid": [1, "OdooBot"],
    "name": "WH/OUT/00001", "origin": "S00002", "partner_id": [8, "上海电气自动化设备有限公司"],
    "sale_id": [2, "S00002"], "picking_type_code": "outgoing", "state": "done",
    "scheduled_date": "2026-11-27 06:33:33", "date_done": "2026-11-27 06:33:37",
    "carrier_tracking_ref": False,
}  # fmt: skip
MOVES: list[dict[str, Any]] = [
    {"id": 1, "product_id": [1, "[HL-VMC850] HL-VMC850 立式加工中心"], "product_uom_qty": 2.0,
     "quantity": 2.0},
    {"id": 2, "product_id": [5, "[HL-SM-7.5] HL-SM-7.5 伺服电机 7.5kW"], "product_uom_qty": 2.0,
     "quantity": 2.0},
]  # fmt: skip
INVOICE: dict[str, Any] = {
    "id": 1, "write_date": "2026-11-27 06:33:38", "write_uid": [1, "OdooBot"],
    "name": "INV/2026/00001", "move_type": "out_invoice",
    "partner_id": [8, "上海电气自动化设备有限公司"],
    "invoice_origin": "S00002", "ref": "801000000000042AAA", "invoice_date": "2026-11-27",
    "invoice_date_due": "2026-12-27", "state": "posted", "payment_state": "not_paid",
    "amount_untaxed": 549600.0, "amount_total": 549600.0, "amount_residual": 549600.0,
    "currency_id": [1, "CNY"], "x_sale_order_id": [2, "S00002"],
}  # fmt: skip


def test_a_confirmed_sale_order_carries_its_crm_order_and_lines_in_line_order() -> None:
    event = map_sale_order(SALE_ORDER, LINES, PRODUCTS)
    assert isinstance(event, SalesOrderUpsertedV1)
    assert (event.name, event.state) == ("S00002", "sale")
    assert event.crm_order_ref == "801000000000042AAA"
    assert [line.model_code for line in event.lines] == ["HL-VMC850", "HL-SM-7.5"]
    assert event.lines[1].delivered_quantity == Decimal(2)
    assert event.amount_total.amount == Decimal("549600.0") and event.currency == "CNY"
    assert event.amount_tax.amount == 0
    assert event.modified_at == datetime(2026, 11, 27, 6, 33, 38, tzinfo=UTC)
    assert status_for(event) is OrderStatus.ACCEPTED


def test_a_sale_order_without_product_lines_is_not_an_event_yet() -> None:
    assert map_sale_order({**SALE_ORDER, "state": "draft", "order_line": []}, [], PRODUCTS) is None


@pytest.mark.parametrize(
    ("state", "status"),
    [("draft", None), ("sent", None), ("sale", OrderStatus.ACCEPTED),
     ("done", OrderStatus.ACCEPTED), ("cancel", OrderStatus.CANCELLED)],
)  # fmt: skip
def test_sale_order_states_map_to_order_statuses(state: str, status: OrderStatus | None) -> None:
    event = map_sale_order({**SALE_ORDER, "state": state}, LINES, PRODUCTS)
    assert event is not None and status_for(event) is status


def test_a_line_naming_an_unknown_product_is_a_mapping_error() -> None:
    with pytest.raises(MappingError, match="product 5"):
        map_sale_order(SALE_ORDER, LINES, {1: PRODUCTS[1]})


def test_a_confirmed_manufacturing_order_is_planned_and_accepts_the_order() -> None:
    record = {**PRODUCTION, "state": "confirmed", "date_start": False, "qty_producing": 0.0}
    event = map_production(record, PRODUCTS, crm_order_ref="801X")
    assert isinstance(event, ManufacturingOrderPlannedV1)
    assert (event.name, event.model_code, event.uom, event.quantity) == (
        "WH/MO/00001", "HL-VMC850", "台", Decimal(2)
    )  # fmt: skip
    assert (event.sales_order_ref, event.crm_order_ref) == ("S00002", "801X")
    assert event.planned_start == datetime(2026, 11, 27, 6, 33, 36, tzinfo=UTC)
    assert status_for(event) is OrderStatus.ACCEPTED


@pytest.mark.parametrize(
    ("state", "status"),
    [("progress", OrderStatus.IN_PRODUCTION), ("to_close", OrderStatus.IN_PRODUCTION),
     ("done", OrderStatus.IN_PRODUCTION), ("cancel", None)],
)  # fmt: skip
def test_manufacturing_progress_keeps_the_order_in_production(
    state: str, status: OrderStatus | None
) -> None:
    event = map_production({**PRODUCTION, "state": state}, PRODUCTS, crm_order_ref="801X")
    assert isinstance(event, ManufacturingOrderProgressedV1)
    assert event.quantity_produced == Decimal(2) and status_for(event) is status


def test_a_draft_manufacturing_order_is_not_an_event() -> None:
    assert map_production({**PRODUCTION, "state": "draft"}, PRODUCTS, crm_order_ref=None) is None


def test_a_done_delivery_is_a_full_shipment_of_what_moved() -> None:
    event = map_shipment(PICKING, MOVES, PRODUCTS, crm_order_ref="801X")
    assert isinstance(event, ShipmentDispatchedV1)
    assert [(line.model_code, line.quantity) for line in event.lines] == [
        ("HL-VMC850", Decimal(2)), ("HL-SM-7.5", Decimal(2))
    ]  # fmt: skip
    assert not event.partial and event.tracking_number is None
    assert event.dispatched_at == datetime(2026, 11, 27, 6, 33, 37, tzinfo=UTC)
    assert status_for(event) is OrderStatus.SHIPPED


def test_a_partial_delivery_does_not_mark_the_order_shipped() -> None:
    moves = [MOVES[0], {**MOVES[1], "quantity": 0.0}]
    event = map_shipment(PICKING, moves, PRODUCTS, crm_order_ref="801X")
    assert event is not None and event.partial and len(event.lines) == 1
    assert status_for(event) is None


@pytest.mark.parametrize(
    "moves",
    [[], [{**move, "quantity": 0.0} for move in MOVES]],
    ids=["no moves", "nothing moved"],
)
def test_a_done_delivery_without_goods_is_nothing_to_report_not_an_error(
    moves: list[dict[str, Any]],
) -> None:
    # e.g. a delivery of a service-only order (Odoo makes none, older data may hold one).
    assert map_shipment(PICKING, moves, PRODUCTS, crm_order_ref="801X") is None


@pytest.mark.parametrize(
    "change", [{"state": "assigned"}, {"state": "waiting"}, {"picking_type_code": "incoming"}]
)
def test_open_deliveries_and_receipts_are_not_shipments(change: dict[str, Any]) -> None:
    assert map_shipment({**PICKING, **change}, MOVES, PRODUCTS, crm_order_ref="801X") is None


def test_a_posted_customer_invoice_invoices_the_order() -> None:
    event = map_invoice(INVOICE, crm_order_ref="801000000000042AAA")
    assert isinstance(event, InvoicePostedV1)
    assert (event.number, event.sales_order_ref, event.erp_customer_id) == (
        "INV/2026/00001", "S00002", 8
    )  # fmt: skip
    assert (event.invoice_date, event.due_date) == (date(2026, 11, 27), date(2026, 12, 27))
    assert event.customer_name == "上海电气自动化设备有限公司"
    assert status_for(event) is OrderStatus.INVOICED


@pytest.mark.parametrize("change", [{"state": "draft"}, {"move_type": "out_refund"}])
def test_draft_invoices_and_refunds_are_not_posted_invoices(change: dict[str, Any]) -> None:
    assert map_invoice({**INVOICE, **change}, crm_order_ref="801X") is None


def test_documents_find_their_sale_order_by_link_or_origin() -> None:
    assert sale_order_name(PICKING) == "S00002"
    assert sale_order_name(INVOICE) == "S00002"
    assert sale_order_name(PRODUCTION) == "S00002"
    assert sale_order_name({"origin": False}) is None


def _fulfilment_events() -> list[Any]:
    planned = map_production({**PRODUCTION, "state": "confirmed"}, PRODUCTS, crm_order_ref="801")
    return [
        map_sale_order(SALE_ORDER, LINES, PRODUCTS),
        planned,
        map_production(PRODUCTION, PRODUCTS, crm_order_ref="801"),
        map_shipment(PICKING, MOVES, PRODUCTS, crm_order_ref="801"),
        map_invoice(INVOICE, crm_order_ref="801"),
    ]


def test_every_delivery_order_ends_invoiced_and_never_writes_backwards() -> None:
    crm_rank = {"Confirmed": 1, "InProduction": 2, "Shipped": 3, "Invoiced": 4}
    for order in itertools.permutations(_fulfilment_events()):
        current: OrderStatus | None = None
        written: list[str] = []
        for event in order:
            command = OrderUpdateRequestedV1(crm_order_id="801", status=status_for(event))
            fields, advances = order_fields(command, current)
            if advances:
                current = command.status
            if "ErpStatus__c" in fields:
                written.append(fields["ErpStatus__c"])
        assert current is OrderStatus.INVOICED and written[-1] == "Invoiced"
        assert [crm_rank[s] for s in written] == sorted({crm_rank[s] for s in written})


CRM_ORDER = "801000000000042AAA"


def fulfilment_erp() -> FakeErp:
    rows = {
        "sale.order": {2: {"name": "S00002", "client_order_ref": CRM_ORDER}},
        "sale.order.line": {line["id"]: line for line in LINES},
        "product.product": {1: {"default_code": "HL-VMC850", "uom_name": "台"},
                            5: {"default_code": "HL-SM-7.5", "uom_name": "件"}},
        "stock.move": {move["id"]: {**move, "picking_id": 1} for move in MOVES},
    }  # fmt: skip
    return FakeErp(rows)


async def test_a_sale_order_is_announced_in_its_crm_orders_deal_with_products_cached() -> None:
    erp = fulfilment_erp()
    flow = FulfilmentFlow(deps(erp=erp))
    source = source_record("erp", "sale.order", SALE_ORDER, "src.erp.sale-order")
    [event] = emitted(await flow.on_sale_order(source))
    assert isinstance(event.data, SalesOrderUpsertedV1) and event.data.crm_order_ref == CRM_ORDER
    assert event.correlationid == crm_order_deal(CRM_ORDER)
    assert event.time == datetime(2026, 11, 27, 5, tzinfo=UTC), "when the ERP changed it"
    reads = len(erp.reads)
    await flow.on_sale_order(source)
    assert [model for model, _ in erp.reads[reads:]] == ["sale.order.line"], "products cached"


async def test_a_manufacturing_order_finds_its_crm_order_through_its_sale_order() -> None:
    erp = fulfilment_erp()
    flow = FulfilmentFlow(deps(erp=erp))
    source = source_record("erp", "mrp.production", PRODUCTION, "src.erp.mrp-production")
    [event] = emitted(await flow.on_production(source))
    assert isinstance(event.data, ManufacturingOrderProgressedV1)
    assert event.data.crm_order_ref == CRM_ORDER
    draft = source_record("erp", "mrp.production", {**PRODUCTION, "state": "draft"},
                          "src.erp.mrp-production")  # fmt: skip
    assert await flow.on_production(draft) == []


async def test_a_done_delivery_is_a_shipment_and_an_open_one_is_nothing() -> None:
    flow = FulfilmentFlow(deps(erp=fulfilment_erp()))
    source = source_record("erp", "stock.picking", PICKING, "src.erp.picking")
    [event] = emitted(await flow.on_picking(source))
    assert isinstance(event.data, ShipmentDispatchedV1) and not event.data.partial
    waiting = source_record("erp", "stock.picking", {**PICKING, "state": "assigned"},
                            "src.erp.picking")  # fmt: skip
    assert await flow.on_picking(waiting) == []


async def test_a_posted_invoice_takes_its_crm_order_from_its_ref() -> None:
    flow = FulfilmentFlow(deps(erp=FakeErp()))
    [event] = emitted(await flow.on_invoice(source_record("erp", "account.move", INVOICE,
                                                              "src.erp.invoice")))  # fmt: skip
    assert isinstance(event.data, InvoicePostedV1) and event.data.crm_order_ref == CRM_ORDER


async def test_a_product_without_a_model_code_is_a_mapping_error() -> None:
    erp = fulfilment_erp()
    erp.rows["product.product"][5] = {"default_code": False}
    flow = FulfilmentFlow(deps(erp=erp))
    with pytest.raises(MappingError, match="no default_code"):
        await flow.on_sale_order(source_record("erp", "sale.order", SALE_ORDER,
                                               "src.erp.sale-order"))  # fmt: skip


async def test_a_fulfilment_event_asks_for_its_crm_order_status_and_cross_references_it() -> None:
    flow = FulfilmentFlow(deps())
    sale_order = map_sale_order(SALE_ORDER, LINES, PRODUCTS)
    assert sale_order is not None
    source = event_record(sale_order, "biz.sales.sales-order", origin="erp")
    [event] = emitted(await flow.on_status(source))
    assert isinstance(event.data, OrderUpdateRequestedV1)
    assert (event.data.crm_order_id, event.data.status) == (CRM_ORDER, OrderStatus.ACCEPTED)
    assert flow.deps.xref.get(f"order:{CRM_ORDER}") == {"crm": CRM_ORDER, "erp": "S00002"}
    local = sale_order.model_copy(update={"crm_order_ref": None})
    assert await flow.on_status(event_record(local, "biz.sales.sales-order", origin="erp")) == []


def test_the_flow_declares_a_mapping_stage_per_feed_and_a_status_stage_per_topic() -> None:
    declared = FulfilmentFlow(deps()).declare()
    assert [stage.name for stage in declared.stages] == [
        "fulfilment-map-sale-order", "fulfilment-map-mrp-production", "fulfilment-map-picking",
        "fulfilment-map-invoice", "fulfilment-status-sales-order",
        "fulfilment-status-manufacturing-order", "fulfilment-status-shipment",
        "fulfilment-status-invoice",
    ]  # fmt: skip
    assert [feed.name for feed in declared.feeds] == [
        "erp.sale-order", "erp.mrp-production", "erp.picking", "erp.invoice"
    ]  # fmt: skip
