"""OdooConnector against the sandbox ERP over real sockets: upserts, orders, trips, feeds."""

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import httpx
import pytest

from bizbus.connectors.base import Outcome, SinkCommand, SourceRecord
from bizbus.connectors.errors import MappingError
from bizbus.connectors.odoo import OdooConnector, OdooSettings
from bizbus.connectors.settings import load_settings
from bizbus.deploy.sandbox.registry import SYSTEMS

CREDS = SYSTEMS["erp"].credentials


def erp_settings(erp_url: str, **values: Any) -> OdooSettings:
    base = {"base_url": erp_url, "db": CREDS["db"], "login": CREDS["integration_login"],
            "api_key": CREDS["integration_api_key"], "poll_interval_s": 0.5}  # fmt: skip
    return load_settings(OdooSettings, **{**base, **values})


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8].upper()}"


@pytest.fixture(params=["jsonrpc", "json2"])
async def erp(request: pytest.FixtureRequest, erp_url: str) -> AsyncIterator[OdooConnector]:
    async with OdooConnector(erp_settings(erp_url, protocol=request.param)) as connector:
        yield connector


async def effects(erp_url: str, model: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=erp_url, timeout=5) as client:
        answer = await client.get("/_sandbox/effects", params={"object": model})
    rows: list[dict[str, Any]] = answer.json()["effects"]
    return rows


async def test_a_partner_upserted_twice_is_one_record_written_once(
    erp: OdooConnector, erp_url: str
) -> None:
    ref = unique("C")
    command = SinkCommand("res.partner", ref, {"name": "常州精工机械有限公司", "city": "常州",
                                               "is_company": True})  # fmt: skip
    first = await erp.apply(command)
    second = await erp.apply(command)
    assert (first.outcome, second.outcome) == (Outcome.CREATED, Outcome.UNCHANGED)
    assert await erp.search_count("res.partner", [("ref", "=", ref)]) == 1
    mine = [e for e in await effects(erp_url, "res.partner") if e["key"] == ref]
    assert [e["action"] for e in mine] == ["create"] and mine[0]["client"] == "bizbus"
    moved = await erp.apply(SinkCommand("res.partner", ref, {**command.payload, "city": "无锡"}))
    assert moved.outcome is Outcome.UPDATED and moved.external_ids == first.external_ids
    [row] = await erp.search_read("res.partner", [("ref", "=", ref)], fields=["city", "write_uid"])
    assert row["city"] == "无锡" and row["write_uid"][0] == await erp.uid() == 3


async def test_a_sale_order_with_lines_is_confirmed_once_when_applied_twice(
    erp: OdooConnector, erp_url: str
) -> None:
    ref = unique("CRM-ORD")
    payload = {"partner_ref": "C10002", "confirm": True, "order_line": [
        {"product_default_code": "HL-CK6150", "product_uom_qty": 2, "price_unit": 125000},
        {"product_default_code": "HL-BS-40", "product_uom_qty": 10},
    ]}  # fmt: skip
    first = await erp.apply(SinkCommand("sale.order", ref, payload))
    second = await erp.apply(SinkCommand("sale.order", ref, payload))
    assert (first.outcome, second.outcome) == (Outcome.CREATED, Outcome.UNCHANGED)
    assert first.external_ids["name"].startswith("S") and first.external_ids["state"] == "sale"
    [order] = await erp.search_read("sale.order", [("client_order_ref", "=", ref)],
                                    fields=["state", "order_line", "amount_total"])  # fmt: skip
    assert order["state"] == "sale" and len(order["order_line"]) == 2
    assert order["amount_total"] == 2 * 125000 + 10 * 2350
    confirms = [e for e in await effects(erp_url, "sale.order")
                if e["key"] == ref and e["action"] == "action_confirm"]  # fmt: skip
    assert len(confirms) == 1


async def test_an_unknown_product_is_a_mapping_error_and_nothing_is_written(
    erp: OdooConnector,
) -> None:
    ref = unique("CRM-ORD")
    payload = {"partner_ref": "C10001", "order_line": [{"product_default_code": "HL-NOPE-1"}]}
    with pytest.raises(MappingError, match="unknown product default_code HL-NOPE-1"):
        await erp.apply(SinkCommand("sale.order", ref, payload))
    assert await erp.search_count("sale.order", [("client_order_ref", "=", ref)]) == 0


async def test_a_business_trip_is_created_approved_and_then_refused(erp: OdooConnector) -> None:
    ref = unique("OA-TRIP")
    day = 1 + int(uuid.uuid4().hex[:4], 16) % 27  # one employee, non-overlapping dates per run
    year = 2030 + (0 if erp.protocol == "jsonrpc" else 1)
    trip = {"employee_barcode": "E1002", "date_from": date(year, 3, day),
            "date_to": date(year, 3, day), "name": "广交会参展", "x_destination": "广州",
            "state": "approved"}  # fmt: skip
    created = await erp.apply(SinkCommand("hr.leave", ref, trip))
    revoked = await erp.apply(SinkCommand("hr.leave", ref, {**trip, "state": "cancelled"}))
    again = await erp.apply(SinkCommand("hr.leave", ref, {**trip, "state": "cancelled"}))
    assert (created.outcome, revoked.outcome, again.outcome) == (
        Outcome.CREATED, Outcome.UPDATED, Outcome.UNCHANGED)  # fmt: skip
    [leave] = await erp.search_read(
        "hr.leave", [("x_external_ref", "=", ref)],
        fields=["state", "holiday_status_id", "x_destination", "employee_id"],
    )  # fmt: skip
    assert leave["state"] == "refuse" and leave["x_destination"] == "广州"
    assert leave["holiday_status_id"][0] == 3


async def wait_for(
    erp: OdooConnector, model: str, done: Any, *, timeout: float = 20
) -> list[SourceRecord]:
    seen: list[SourceRecord] = []
    async with asyncio.timeout(timeout):
        async for record in erp.changes(model, None):
            seen.append(record)
            if done(record):
                return seen
    raise AssertionError("unreachable")


async def test_polling_sale_orders_shows_the_engine_moving_the_order_forward(
    erp_url: str,
) -> None:
    async with OdooConnector(erp_settings(erp_url, page_size=3)) as erp:
        ref = unique("CRM-ORD")
        line = {"product_default_code": "HL-HP100", "product_uom_qty": 1}
        payload = {"partner_ref": "C10003", "confirm": True, "order_line": [line]}
        result = await erp.apply(SinkCommand("sale.order", ref, payload))
        name = result.external_ids["name"]
        mine = [r for r in await wait_for(
            erp, "sale.order",
            lambda r: r.payload["name"] == name and r.payload["delivery_status"] == "full",
        ) if r.payload["name"] == name]  # fmt: skip
        productions = await wait_for(
            erp,
            "mrp.production",
            lambda r: r.payload["origin"] == name and r.payload["state"] == "done",
        )
    assert mine[0].origin == "3" and mine[-1].origin == "1"  # ours first, then the ERP's own
    assert mine[-1].cursor > mine[0].cursor and mine[-1].modified_at.tzinfo is not None
    # Nothing repeated: a record comes again only with another content (two writes in one
    # write_date second keep its position, so the position alone does not tell).
    assert all(a.payload != b.payload for a, b in itertools.pairwise(mine))
    assert any(r.payload["origin"] == name for r in productions)
