"""A sale order placed over JSON-RPC, confirmed and stepped to its invoice by the sandbox clock."""

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bizbus.deploy.sandbox.registry import SYSTEMS
from bizbus.deploy.sandbox.runner import start_sandbox, stop_sandbox

CREDS = SYSTEMS["erp"].credentials


@pytest.fixture(scope="module")
def stepped_erp() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="bizbus-erp-") as run_dir:
        stack = start_sandbox(["erp"], run_dir=Path(run_dir), manual_clock=True)
        try:
            yield stack.urls["erp"]
        finally:
            stop_sandbox(stack)


class Odoo:
    """The JSON-RPC calls a connector makes (execute_kw as the integration user)."""

    def __init__(self, url: str) -> None:
        self.client = httpx.Client(base_url=url)
        self.uid = self.rpc(
            "common",
            "authenticate",
            CREDS["db"],
            CREDS["integration_login"],
            CREDS["integration_password"],
            {},
        )

    def rpc(self, service: str, method: str, *args: Any) -> Any:
        body = {
            "jsonrpc": "2.0",
            "method": "call",
            "id": 1,
            "params": {"service": service, "method": method, "args": list(args)},
        }
        reply = self.client.post("/jsonrpc", json=body).json()
        assert "error" not in reply, reply
        return reply["result"]

    def __call__(self, model: str, method: str, *args: Any, **kwargs: Any) -> Any:
        return self.rpc(
            "object",
            "execute_kw",
            CREDS["db"],
            self.uid,
            CREDS["integration_password"],
            model,
            method,
            list(args),
            kwargs,
        )

    def advance(self, seconds: float) -> None:
        self.client.post("/_sandbox/clock", json={"advance_s": seconds}).raise_for_status()


@pytest.fixture
def odoo(stepped_erp: str) -> Iterator[Odoo]:
    client = Odoo(stepped_erp)
    yield client
    client.client.close()


def upsert_order(odoo: Odoo, crm_key: str, partner_ref: str, lines: list[tuple[str, int]]) -> int:
    found = odoo("sale.order", "search", [("client_order_ref", "=", crm_key)], limit=1)
    if found:
        return int(found[0])
    [partner] = odoo("res.partner", "search", [("ref", "=", partner_ref)])
    order_lines = []
    for code, qty in lines:
        [product] = odoo("product.product", "search", [("default_code", "=", code)])
        order_lines.append((0, 0, {"product_id": product, "product_uom_qty": qty}))
    return int(
        odoo(
            "sale.order",
            "create",
            {"partner_id": partner, "client_order_ref": crm_key, "order_line": order_lines},
        )
    )


def test_confirmed_order_moves_through_production_delivery_and_invoice(odoo: Odoo) -> None:
    order = upsert_order(odoo, "CRM-ORD-0001", "C10004", [("HL-VMC850", 2), ("HL-SM-7.5", 4)])
    assert upsert_order(odoo, "CRM-ORD-0001", "C10004", []) == order  # idempotent retry
    [so] = odoo("sale.order", "read", [order], ["name", "state", "amount_total", "write_date"])
    assert so["state"] == "draft" and so["amount_total"] == 2 * 268000.0 + 4 * 6800.0
    assert odoo("sale.order", "action_confirm", [order]) is True
    watermark = so["write_date"]

    def poll(model: str, fields: list[str]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = odoo(
            model,
            "search_read",
            [("write_date", ">=", watermark)],
            fields=fields,
            order="write_date asc, id asc",
            limit=100,
        )
        return rows

    def mo_states() -> list[str]:
        return [
            m["state"]
            for m in poll("mrp.production", ["state", "origin"])
            if m["origin"] == so["name"]
        ]

    assert mo_states() == ["confirmed"]
    timeline = []
    for _ in range(4):
        odoo.advance(2)
        [now] = odoo("sale.order", "read", [order], ["delivery_status", "invoice_status"])
        [picking] = odoo(
            "stock.picking", "search_read", [("sale_id", "=", order)], fields=["state"]
        )
        timeline.append(
            (mo_states()[0], picking["state"], now["delivery_status"], now["invoice_status"])
        )
    assert timeline == [
        ("progress", "waiting", "pending", "no"),
        ("done", "assigned", "pending", "no"),
        ("done", "done", "full", "to invoice"),
        ("done", "done", "full", "invoiced"),
    ]
    [invoice] = poll(
        "account.move", ["invoice_origin", "state", "amount_total", "write_uid", "move_type"]
    )
    assert invoice["invoice_origin"] == so["name"] and invoice["state"] == "posted"
    assert invoice["amount_total"] == so["amount_total"] and invoice["write_uid"][0] == 1
    quants = poll("stock.quant", ["product_id", "quantity"])
    assert {q["product_id"][1] for q in quants} >= {"[HL-VMC850] HL-VMC850 立式加工中心"}
    effects = odoo.client.get("/_sandbox/effects", params={"object": "sale.order"}).json()
    confirm = [e for e in effects["effects"] if e["action"] == "action_confirm"]
    assert confirm[-1]["key"] == "CRM-ORD-0001" and confirm[-1]["client"] == "bizbus"


def test_write_date_moves_with_the_sandbox_clock(odoo: Odoo) -> None:
    [partner] = odoo("res.partner", "search", [("ref", "=", "C10005")])
    odoo("res.partner", "write", [partner], {"phone": "+86 10 1"})
    [before] = odoo("res.partner", "read", [partner], ["write_date"])
    odoo.advance(5)
    odoo("res.partner", "write", [partner], {"phone": "+86 10 2"})
    [after] = odoo("res.partner", "read", [partner], ["write_date"])
    assert after["write_date"] > before["write_date"]
    seen = odoo("res.partner", "search", [("write_date", ">", before["write_date"])])
    assert partner in seen


def test_real_time_mode_advances_production_without_clock_calls(erp_url: str) -> None:
    odoo = Odoo(erp_url)
    try:
        order = upsert_order(odoo, "CRM-ORD-RT-1", "C10006", [("HL-HP100", 1)])
        odoo("sale.order", "action_confirm", [order])
        [name] = [r["name"] for r in odoo("sale.order", "read", [order], ["name"])]
        deadline = time.monotonic() + 10
        states: list[str] = []
        while time.monotonic() < deadline and "progress" not in states:
            time.sleep(0.25)
            states = [
                m["state"]
                for m in odoo(
                    "mrp.production", "search_read", [("origin", "=", name)], fields=["state"]
                )
            ]
        assert "progress" in states
    finally:
        odoo.client.close()
