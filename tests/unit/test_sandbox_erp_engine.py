"""The ERP's fulfilment engine and business rules, driven in-process with a stepped clock."""

from typing import Any

import pytest

from bizbus.deploy.sandbox.app import SandboxConfig
from bizbus.deploy.sandbox.erp import build_service
from bizbus.deploy.sandbox.erp.errors import AccessError, InvalidCall, UserError, ValidationError
from bizbus.deploy.sandbox.erp.methods import call
from bizbus.deploy.sandbox.erp.service import ErpService


@pytest.fixture
def service() -> ErpService:
    return build_service(SandboxConfig(manual_clock=True))


def run(service: ErpService, model: str, method: str, *args: Any, **kwargs: Any) -> Any:
    return service.execute(3, "bizbus", model, method, list(args), kwargs)


def new_order(service: ErpService, ref: str, lines: list[tuple[str, float]]) -> Any:
    partner = run(service, "res.partner", "search", [("ref", "=", "C10003")])[0]
    order_lines = []
    for code, qty in lines:
        product = run(service, "product.product", "search", [("default_code", "=", code)])
        order_lines.append((0, 0, {"product_id": product[0], "product_uom_qty": qty}))
    vals = {"partner_id": partner, "client_order_ref": ref, "order_line": order_lines}
    return run(service, "sale.order", "create", vals)


def read1(service: ErpService, model: str, rid: int, fields: list[str]) -> Any:
    return run(service, model, "read", [rid], fields)[0]


async def step(service: ErpService, seconds: float) -> None:
    service.ctx.clock.advance(seconds)
    await service.tick()


def qty(service: ErpService, code: str) -> Any:
    rows = run(
        service, "product.product", "search_read", [("default_code", "=", code)], ["qty_available"]
    )
    return rows[0]["qty_available"]


async def test_confirmed_order_is_produced_shipped_and_invoiced_step_by_step(
    service: ErpService,
) -> None:
    order = new_order(service, "CRM-O-1", [("HL-CK6150", 2), ("HL-SVC-INST", 3)])
    stock_before = qty(service, "HL-CK6150")
    assert run(service, "sale.order", "action_confirm", [order]) is True
    assert read1(service, "sale.order", order, ["state"])["state"] == "sale"
    mos = run(
        service,
        "mrp.production",
        "search_read",
        [("origin", "=", read1(service, "sale.order", order, ["name"])["name"])],
        ["state", "product_qty", "create_uid"],
    )
    assert [(m["state"], m["product_qty"], m["create_uid"][0]) for m in mos] == [
        ("confirmed", 2.0, 3)
    ]
    picking = run(service, "stock.picking", "search_read", [("sale_id", "=", order)], ["state"])
    assert picking[0]["state"] == "waiting"

    await step(service, 1.0)  # not yet due (2 s per step)
    assert (
        run(service, "mrp.production", "read", [mos[0]["id"]], ["state"])[0]["state"] == "confirmed"
    )
    await step(service, 1.0)
    mo = run(service, "mrp.production", "read", [mos[0]["id"]], ["state", "write_uid"])[0]
    assert mo["state"] == "progress" and mo["write_uid"][0] == 1
    await step(service, 2.0)
    assert run(service, "mrp.production", "read", [mos[0]["id"]], ["state"])[0]["state"] == "done"
    assert qty(service, "HL-CK6150") == stock_before + 2
    assert read1(service, "stock.picking", picking[0]["id"], ["state"])["state"] == "assigned"
    await step(service, 2.0)
    assert read1(service, "stock.picking", picking[0]["id"], ["state"])["state"] == "done"
    assert qty(service, "HL-CK6150") == stock_before
    await step(service, 2.0)
    invoices = run(
        service,
        "account.move",
        "search_read",
        [("x_sale_order_id", "=", order)],
        ["state", "move_type", "amount_total", "ref"],
    )
    total = read1(service, "sale.order", order, ["amount_total"])["amount_total"]
    assert invoices == [
        {
            "id": invoices[0]["id"],
            "state": "posted",
            "move_type": "out_invoice",
            "amount_total": total,
            "ref": "CRM-O-1",
        }
    ]
    final = read1(service, "sale.order", order, ["invoice_status", "delivery_status", "order_line"])
    assert (final["invoice_status"], final["delivery_status"]) == ("invoiced", "full")
    assert service.engine.pending(service.env()) == []


async def test_a_big_clock_step_runs_every_due_transition_in_order(service: ErpService) -> None:
    order = new_order(service, "CRM-O-2", [("HL-VMC850", 1)])
    run(service, "sale.order", "action_confirm", [order])
    await step(service, 60)
    assert read1(service, "sale.order", order, ["invoice_status"])["invoice_status"] == "invoiced"


async def test_order_without_manufactured_products_ships_first(service: ErpService) -> None:
    order = new_order(service, "CRM-O-3", [("HL-BS-40", 10)])
    run(service, "sale.order", "action_confirm", [order])
    assert run(service, "mrp.production", "search_count", [("origin", "like", "S")]) == 0
    await step(service, 2)
    assert read1(service, "sale.order", order, ["delivery_status"])["delivery_status"] == "full"


async def test_a_service_only_order_has_no_delivery_and_is_still_invoiced(
    service: ErpService,
) -> None:
    order = new_order(service, "CRM-O-SVC", [("HL-SVC-INST", 1)])
    run(service, "sale.order", "action_confirm", [order])
    assert run(service, "stock.picking", "search_count", [("sale_id", "=", order)]) == 0
    assert run(service, "stock.move", "search_count", [("reference", "like", "S")]) == 0
    await step(service, 30)
    final = read1(service, "sale.order", order, ["invoice_status", "delivery_status"])
    assert (final["invoice_status"], final["delivery_status"]) == ("invoiced", False)
    assert run(service, "account.move", "search_count", [("x_sale_order_id", "=", order)]) == 1


async def test_a_mixed_order_delivers_only_its_goods(service: ErpService) -> None:
    order = new_order(service, "CRM-O-MIX", [("HL-BS-40", 2), ("HL-SVC-INST", 1)])
    run(service, "sale.order", "action_confirm", [order])
    [picking] = run(
        service, "stock.picking", "search_read", [("sale_id", "=", order)], ["move_ids", "state"]
    )
    moves = run(service, "stock.move", "read", picking["move_ids"], ["product_id"])
    goods = run(service, "product.product", "search", [("default_code", "=", "HL-BS-40")])
    assert [m["product_id"][0] for m in moves] == goods
    assert picking["state"] == "assigned"
    await step(service, 2)
    assert read1(service, "stock.picking", picking["id"], ["state"])["state"] == "done"
    assert read1(service, "sale.order", order, ["delivery_status"])["delivery_status"] == "full"


async def test_cancelled_order_stops_its_pending_work(service: ErpService) -> None:
    order = new_order(service, "CRM-O-4", [("HL-HP100", 1)])
    run(service, "sale.order", "action_confirm", [order])
    run(service, "sale.order", "action_cancel", [order])
    await step(service, 30)
    assert read1(service, "sale.order", order, ["state"])["state"] == "cancel"
    states = run(service, "mrp.production", "search_read", [], ["state"])
    assert {s["state"] for s in states} == {"cancel"}
    assert run(service, "account.move", "search_count", []) == 0


def test_confirming_twice_and_deleting_confirmed_orders_are_refused(service: ErpService) -> None:
    order = new_order(service, "CRM-O-5", [("HL-BS-40", 1)])
    run(service, "sale.order", "action_confirm", [order])
    with pytest.raises(UserError):
        run(service, "sale.order", "action_confirm", [order])
    with pytest.raises(UserError, match="not allowed to delete"):
        run(service, "sale.order", "unlink", [order])


def test_list_price_change_opens_a_new_cny_pricelist_rule(service: ErpService) -> None:
    tmpl = run(service, "product.template", "search", [("default_code", "=", "HL-LC3015")])
    run(
        service,
        "product.template",
        "write",
        tmpl,
        {"list_price": 366000.0, "x_model_revision": "B"},
    )
    items = run(
        service,
        "product.pricelist.item",
        "search_read",
        [("product_tmpl_id", "in", tmpl)],
        ["fixed_price", "date_start", "date_end", "currency_id"],
        order="id",
    )
    assert [i["fixed_price"] for i in items] == [356000.0, 366000.0]
    assert items[0]["date_end"] == items[1]["date_start"] and items[1]["date_end"] is False
    assert items[1]["currency_id"][1] == "CNY"
    variant = run(
        service,
        "product.product",
        "search_read",
        [("default_code", "=", "HL-LC3015")],
        ["lst_price", "x_model_revision"],
    )
    assert variant[0]["lst_price"] == 366000.0 and variant[0]["x_model_revision"] == "B"


def test_business_trip_leave_rules(service: ErpService) -> None:
    trip = run(service, "hr.leave.type", "search", [("code", "=", "TRIP")])[0]
    emp = run(service, "hr.employee", "search", [("barcode", "=", "E1002")])[0]
    vals = {
        "holiday_status_id": trip,
        "employee_id": emp,
        "request_date_from": "2025-04-07",
        "request_date_to": "2025-04-09",
        "name": "出差: 广州 广交会",
        "x_external_ref": "OA-1",
    }
    leave = run(service, "hr.leave", "create", vals)
    got = read1(service, "hr.leave", leave, ["state", "number_of_days", "date_from", "date_to"])
    assert got == {
        "id": leave,
        "state": "confirm",
        "number_of_days": 3.0,
        "date_from": "2025-04-07 01:00:00",
        "date_to": "2025-04-09 10:00:00",
    }
    with pytest.raises(ValidationError, match="overlap"):
        run(service, "hr.leave", "create", {**vals, "x_external_ref": "OA-2"})
    with pytest.raises(ValidationError, match="external reference"):
        run(
            service,
            "hr.leave",
            "create",
            {**vals, "request_date_from": "2025-05-01", "request_date_to": "2025-05-01"},
        )
    run(service, "hr.leave", "action_approve", [leave])
    with pytest.raises(UserError):
        run(service, "hr.leave", "unlink", [leave])
    run(service, "hr.leave", "action_refuse", [leave])
    assert read1(service, "hr.leave", leave, ["state"])["state"] == "refuse"


def test_call_rejects_private_and_unknown_methods(service: ErpService) -> None:
    env = service.env(2, "admin")
    with pytest.raises(AccessError):
        call(env, "res.partner", "_write", [[1], {}])
    with pytest.raises(InvalidCall, match="does not exist"):
        call(env, "res.partner", "action_confirm", [[1]])
    with pytest.raises(InvalidCall, match="doesn't exist"):
        call(env, "no.such.model", "search", [[]])
    with pytest.raises(InvalidCall, match="unexpected keyword"):
        call(env, "res.partner", "search", [[]], {"bogus": 1})


async def test_stock_adjustments_and_planned_production_read_as_in_odoo(
    service: ErpService,
) -> None:
    product = run(service, "product.product", "search", [("default_code", "=", "HL-CK6150")])[0]
    internal = [("product_id", "=", product), ("location_id.usage", "=", "internal")]
    quant = run(service, "stock.quant", "search", internal)[0]
    run(service, "stock.quant", "write", [quant], {"inventory_quantity": 7})
    assert run(service, "stock.quant", "action_apply_inventory", [quant]) is True
    row = read1(service, "stock.quant", quant, ["quantity", "inventory_quantity", "write_date"])
    assert row["quantity"] == 7 and not row["inventory_quantity"] and row["write_date"]
    run(service, "stock.quant", "write", [quant], {"reserved_quantity": 2})
    order = new_order(service, "CRM-O-STOCK", [("HL-CK6150", 3)])
    run(service, "sale.order", "action_confirm", [order])
    fields = ["qty_available", "free_qty", "incoming_qty"]
    assert {k: read1(service, "product.product", product, fields)[k] for k in fields} == {
        "qty_available": 7, "free_qty": 5, "incoming_qty": 3,
    }  # fmt: skip
    [mo] = run(service, "mrp.production", "search_read", [("product_id", "=", product)],
               ["state", "date_finished"])  # fmt: skip
    assert mo["state"] == "confirmed" and mo["date_finished"]  # the planned end
    await step(service, 4)
    assert read1(service, "product.product", product, ["incoming_qty"])["incoming_qty"] == 0
    assert read1(service, "product.product", product, ["qty_available"])["qty_available"] == 10
