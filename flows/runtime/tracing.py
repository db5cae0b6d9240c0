"""W3C trace context on every hop, through the OpenTelemetry API.

Each event carries the context it was created in (CloudEvents distributed-tracing extension,
`ce_traceparent`). A stage that calls systems runs its handler in a span whose parent is that
context, so its HTTP calls (the connectors inject `traceparent`) and the events it makes belong
to the same trace. Pure batched stages open no span: what they make takes its cause's context,
which keeps the hot path free of per-event span work. Spans leave the process over OTLP only
when OTEL_EXPORTER_OTLP_ENDPOINT (or ..._TRACES_ENDPOINT) is set; without it they are made
(a trace id is needed to propagate) and dropped.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypedDict

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind

from bizbus.flows.runtime.record import RawRecord
from bizbus.flows.settings import TracingSettings
from bizbus.schemas import Envelope

__all__ = [
    "TRACEPARENT",
    "TRACESTATE",
    "TraceFields",
    "setup_tracing",
    "span_for_record",
    "span_for_request",
    "started_trace",
    "trace_fields",
]

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
_CE_TRACEPARENT = b"ce_" + TRACEPARENT.encode()
_CE_TRACESTATE = b"ce_" + TRACESTATE.encode()
_TRACER = "bizbus"
_installed: list[TracerProvider] = []


def setup_tracing(service: str, settings: TracingSettings | None = None) -> TracerProvider:
    """Install the SDK tracer provider once per process; export over OTLP when configured."""
    if _installed:
        return _installed[0]
    settings = settings or TracingSettings()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    if settings.exporting:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _installed.append(provider)
    return provider


def _carrier(headers: Any) -> dict[str, str]:
    """Return the record's trace headers under their W3C names (what the propagator reads)."""
    found: dict[str, str] = {}
    for name, value in headers:
        key = name.encode() if isinstance(name, str) else name
        if key == _CE_TRACEPARENT:
            found[TRACEPARENT] = value.decode(errors="replace")
        elif key == _CE_TRACESTATE:
            found[TRACESTATE] = value.decode(errors="replace")
    return found


def _context_of(carrier: dict[str, str]) -> Context | None:
    return propagate.extract(carrier) if carrier else None


@contextmanager
def span_for_record(stage: str, record: RawRecord) -> Iterator[None]:
    """Run the body in a consumer span, child of the context the record's event was made in."""
    parent = _context_of(_carrier(record.headers))
    tracer = trace.get_tracer(_TRACER)
    with tracer.start_as_current_span(
        f"{stage} process",
        context=parent,
        kind=SpanKind.CONSUMER,
        attributes={"messaging.destination.name": record.topic},
    ):
        yield


@contextmanager
def span_for_request(name: str, headers: Any) -> Iterator[None]:
    """Run the body in a server span, child of the caller's `traceparent` header if it sent one."""
    carrier = {
        key.lower(): value
        for key, value in (headers.items() if hasattr(headers, "items") else headers)
        if key.lower() in (TRACEPARENT, TRACESTATE)
    }
    tracer = trace.get_tracer(_TRACER)
    with tracer.start_as_current_span(name, context=_context_of(carrier), kind=SpanKind.SERVER):
        yield


@contextmanager
def started_trace(name: str) -> Iterator[None]:
    """Run the body in a producer span: a new trace, or a child of the current span if any."""
    with trace.get_tracer(_TRACER).start_as_current_span(name, kind=SpanKind.PRODUCER):
        yield


def _current() -> dict[str, str]:
    carrier: dict[str, str] = {}
    if trace.get_current_span().get_span_context().is_valid:
        propagate.inject(carrier)
    return carrier


class TraceFields(TypedDict):
    """`make_event`'s trace keywords."""

    traceparent: str | None
    tracestate: str | None


def trace_fields(cause: Envelope[Any] | None = None) -> TraceFields:
    """Return `traceparent`/`tracestate` for an event made now (make_event's keywords).

    The current span's context when there is one (a stage calling systems, a webhook, a poll),
    else the cause's own (a pure stage passes it on), else none.
    """
    carrier = _current()
    if carrier:
        return TraceFields(traceparent=carrier.get(TRACEPARENT), tracestate=carrier.get(TRACESTATE))
    if cause is not None:
        return TraceFields(traceparent=cause.traceparent, tracestate=cause.tracestate)
    return TraceFields(traceparent=None, tracestate=None)
