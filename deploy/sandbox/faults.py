"""Fault injection for sandbox servers: latency, 5xx rate, 429 + Retry-After, outages, scripts.

Controlled over HTTP (`POST /_sandbox/faults`) or `BIZBUS_SANDBOX_<SYSTEM>_FAULTS` (JSON).
`/_sandbox/*` control paths are never faulted, so tests can always repair a system. The
injector also keeps the request log (`GET /_sandbox/requests`): every API call it saw.
"""

import asyncio
import random
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Receive, Scope, Send

CONTROL_PREFIX = "/_sandbox"
REQUEST_LOG_SIZE = 100_000
FaultBody = Callable[[int], tuple[bytes, str]]


class FaultPlan(BaseModel):
    """What goes wrong, and how often."""

    latency_ms: float = Field(default=0.0, ge=0, description="Delay added to every API call.")
    error_rate: float = Field(default=0.0, ge=0, le=1, description="Share answered with 5xx.")
    error_status: int = Field(default=503, ge=500, le=599, description="Status of those 5xx.")
    rate_limit_rate: float = Field(default=0.0, ge=0, le=1, description="Share answered 429.")
    retry_after_s: int = Field(default=1, ge=0, description="Retry-After sent with each 429.")
    outage_until: float | None = Field(
        default=None, description="Unix time until which every API call gets error_status."
    )
    script: list[int] = Field(
        default_factory=list,
        description="Statuses for the next calls, in order (e.g. [503] then normal service).",
    )
    seed: int | None = Field(default=None, description="Seed for repeatable random faults.")


def _default_body(status: int) -> tuple[bytes, str]:
    return b'{"error": "sandbox injected fault", "status": %d}' % status, "application/json"


class FaultInjector:
    """ASGI middleware that applies the current FaultPlan to API calls."""

    def __init__(self, app: ASGIApp, *, body: FaultBody = _default_body) -> None:
        self.app = app
        self.body = body
        self.plan = FaultPlan()
        self._random = random.Random()  # noqa: S311 - fault sampling, not security
        self.requests_seen = 0
        self._log: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_SIZE)

    def requests(self, since: int = 0) -> list[dict[str, Any]]:
        """Return the logged calls numbered above `since` (the newest `REQUEST_LOG_SIZE`)."""
        return [entry for entry in self._log if entry["seq"] > since]

    def set_plan(self, plan: FaultPlan) -> None:
        """Replace the plan (and reseed when it carries a seed)."""
        self.plan = plan
        self._random = random.Random(plan.seed)  # noqa: S311 - fault sampling, not security

    def _pick_fault(self) -> int | None:
        plan = self.plan
        if plan.script:
            status = plan.script.pop(0)
            return status if status >= 400 else None
        if plan.outage_until is not None and time.time() < plan.outage_until:
            return plan.error_status
        roll = self._random.random()
        if roll < plan.rate_limit_rate:
            return 429
        if roll < plan.rate_limit_rate + plan.error_rate:
            return plan.error_status
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Delay, fault or pass the call through, per the current plan."""
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        self.requests_seen += 1
        entry: dict[str, Any] = {"seq": self.requests_seen, "at": time.time(),
                                 "method": scope["method"],
                                 "path": scope["path"]}  # fmt: skip
        for name, value in scope["headers"]:
            if name == b"traceparent":  # what a caller's tracing propagated to this system
                entry["traceparent"] = value.decode("latin-1")
        self._log.append(entry)
        if self.plan.latency_ms:
            await asyncio.sleep(self.plan.latency_ms / 1000)
        status = self._pick_fault()
        if status is None:
            await self.app(scope, receive, send)
            return
        body, content_type = self.body(status)
        headers = [(b"content-type", content_type.encode()), (b"content-length", b"%d" % len(body))]
        if status == 429:
            headers.append((b"retry-after", str(self.plan.retry_after_s).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
