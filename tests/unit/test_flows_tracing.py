"""Trace context: a stage span continues its record's trace; HTTP calls and new events carry it."""

import json
from pathlib import Path
from typing import Any

import httpx
from opentelemetry import trace

from bizbus.connectors.httpbase import HttpConnector
from bizbus.flows.runtime.record import RawRecord
from bizbus.flows.runtime.tracing import (
    setup_tracing,
    span_for_record,
    span_for_request,
    started_trace,
    trace_fields,
)
from bizbus.schemas import Envelope, encode_record, parse_event

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACE_ID = PARENT.split("-")[1]


FIXTURE = Path(__file__).parents[1] / "fixtures" / "events" / "bizbus.sales.order.placed.v1.json"


def _event(traceparent: str | None = None) -> Envelope[Any]:
    return parse_event({**json.loads(FIXTURE.read_text("utf-8")), "traceparent": traceparent})


def test_outside_any_span_an_event_takes_its_cause_context_unchanged() -> None:
    setup_tracing("test")
    cause = _event(PARENT)
    assert trace_fields(cause)["traceparent"] == PARENT  # pure stages: no span work at all
    assert trace_fields()["traceparent"] is None


def test_a_stage_span_continues_the_record_trace_with_a_span_of_its_own() -> None:
    setup_tracing("test")
    key, value, headers = encode_record(_event(PARENT))
    record = RawRecord("biz.x", 0, 7, key, value, headers)
    with span_for_record("stage", record):
        made = trace_fields(_event(PARENT))["traceparent"]
    assert made is not None and made != PARENT
    assert made.split("-")[1] == TRACE_ID


def test_a_webhook_starts_a_trace_or_continues_its_caller() -> None:
    setup_tracing("test")
    with span_for_request("POST /webhooks/x", {"Traceparent": PARENT}), started_trace("capture"):
        continued = trace_fields()["traceparent"]
    with span_for_request("POST /webhooks/x", {}), started_trace("capture"):
        fresh = trace_fields()["traceparent"]
    assert continued is not None and continued.split("-")[1] == TRACE_ID
    assert fresh is not None and fresh.split("-")[1] != TRACE_ID
    assert not trace.get_current_span().get_span_context().is_valid  # nothing leaks out


async def test_an_http_call_inside_a_span_carries_traceparent() -> None:
    setup_tracing("test")
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    key, value, headers = encode_record(_event(PARENT))
    async with HttpConnector("https://api.example.test",
                             transport=httpx.MockTransport(answer)) as api:  # fmt: skip
        await api.request("GET", "/untraced")
        with span_for_record("sink", RawRecord("cmd.x", 0, 1, key, value, headers)):
            await api.request("GET", "/traced")
    assert "traceparent" not in seen[0].headers
    assert seen[1].headers["traceparent"].split("-")[1] == TRACE_ID
