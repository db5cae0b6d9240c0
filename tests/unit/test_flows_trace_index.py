"""The trace index: what a stage's outputs and inputs add to it, and the timeline it gives."""

import json
from pathlib import Path
from typing import Any

import orjson

from bizbus.flows.runtime.record import RawRecord
from bizbus.flows.runtime.spec import Emit
from bizbus.flows.runtime.trace_index import input_links, output_hops, timeline
from bizbus.schemas import Envelope, encode_record, parse_event

FIXTURE = Path(__file__).parents[1] / "fixtures" / "events" / "bizbus.sales.order.placed.v1.json"


def _event(**changes: Any) -> Envelope[Any]:
    return parse_event({**json.loads(FIXTURE.read_text("utf-8")), **changes})


def _record(event: Envelope[Any], topic: str = "p.src.crm.order") -> RawRecord:
    key, value, headers = encode_record(event)
    return RawRecord(topic, 0, 3, key, value, headers, timestamp_ms=1_000)


def test_each_output_is_indexed_under_its_own_deal() -> None:
    out = _event(id="out-1", correlationid="deal-9")
    [(topic, key, value, headers)] = output_hops("idx", [Emit(out)], lambda name: "p." + name)
    hop = orjson.loads(value or b"")
    assert (topic, key, headers) == ("idx", b"deal-9", [])
    assert hop["id"] == "out-1" and hop["topic"] == "p.biz.sales.order"
    assert hop["type"] == out.type and "data" not in hop  # no payload in the index


def test_an_input_of_another_deal_is_linked_into_the_outputs_deal_once() -> None:
    raw = _record(_event(id="in-1", correlationid="raw-deal"))
    outs = [Emit(_event(id=f"o{n}", correlationid="deal-9")) for n in range(2)]
    [(_, key, value, _)] = input_links("idx", raw, outs)
    assert key == b"deal-9" and orjson.loads(value or b"")["id"] == "in-1"
    same = _record(_event(id="in-2", correlationid="deal-9"))
    assert input_links("idx", same, outs) == []  # already in the deal: its own hop says so


def test_the_timeline_names_system_and_step_with_latency_and_puts_causes_first() -> None:
    hops: list[dict[str, Any]] = [
        {"id": "c", "cause": "b", "type": "bizbus.sales.order.placed.v1", "origin": "crm",
         "topic": "p.biz.sales.order", "at_ms": 2_000, "subject": "o1"},
        {"id": "b", "cause": "a", "type": "bizbus.erp.x.requested.v1", "origin": "bizbus",
         "topic": "p.cmd.erp.sales-order", "at_ms": 2_000, "subject": "o1"},
        {"id": "a", "cause": None, "type": "bizbus.integration.source-record.captured.v1",
         "origin": "crm", "topic": "p.src.crm.order", "at_ms": 1_500, "subject": "o1"},
    ]  # fmt: skip
    rows = timeline(hops, prefix="p.")
    assert [(r["system"], r["step"]) for r in rows] == [
        ("crm", "integration.source-record.captured"),
        ("erp", "erp.x.requested"),
        ("crm", "sales.order.placed"),
    ]
    assert [r["latency_ms"] for r in rows] == [None, 500, 0]
    assert rows[0]["time"] == "1970-01-01T00:00:01.500+00:00"
