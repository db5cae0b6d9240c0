"""Assemble a sandbox server: its dialect routes plus the shared `/_sandbox/*` control API.

Control API (never faulted): GET health; GET effects?since=N&object=X; GET requests?since=N
(the request log: every API call, `{"total", "requests": [{"seq", "at", "method", "path"}]}`,
plus `traceparent` when the caller sent one);
GET/POST/DELETE faults (a FaultPlan as JSON); GET/POST clock ({"advance_s": n, "manual": bool}).
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Lifespan

from bizbus.deploy.sandbox.clock import SandboxClock
from bizbus.deploy.sandbox.faults import FaultBody, FaultInjector, FaultPlan, _default_body
from bizbus.deploy.sandbox.store import SandboxStore

ClockHook = Callable[[], Awaitable[None]]


@dataclass
class SandboxConfig:
    """How one sandbox server starts: where its database lives and how its clock runs."""

    db_path: Path | str = ":memory:"
    manual_clock: bool = False
    faults: FaultPlan = field(default_factory=FaultPlan)
    seed: bool = True
    grpc_port: int | None = None  # the CRM's Pub/Sub API (gRPC); None: not served


@dataclass
class SandboxContext:
    """What every route of one server shares."""

    name: str
    store: SandboxStore
    clock: SandboxClock
    on_clock_advance: list[ClockHook] = field(default_factory=list)


def _control_routes(ctx: SandboxContext, injector: FaultInjector) -> list[BaseRoute]:
    async def health(_: Request) -> Response:
        return JSONResponse(
            {"system": ctx.name, "status": "ok", "time": ctx.clock.now().isoformat()}
        )

    async def effects(request: Request) -> Response:
        since = int(request.query_params.get("since", "0"))
        rows = ctx.store.effects(since=since, object_name=request.query_params.get("object"))
        return JSONResponse({"effects": rows})

    async def requests(request: Request) -> Response:
        since = int(request.query_params.get("since", "0"))
        return JSONResponse({"total": injector.requests_seen, "requests": injector.requests(since)})

    async def faults(request: Request) -> Response:
        if request.method == "POST":
            injector.set_plan(FaultPlan.model_validate_json(await request.body()))
        elif request.method == "DELETE":
            injector.set_plan(FaultPlan())
        return JSONResponse(injector.plan.model_dump())

    async def clock(request: Request) -> Response:
        if request.method == "POST":
            body = await request.json()
            if "manual" in body:
                ctx.clock.set_manual(bool(body["manual"]))
            ctx.clock.advance(float(body.get("advance_s", 0)))
            for hook in ctx.on_clock_advance:
                await hook()
        return JSONResponse({"time": ctx.clock.now().isoformat(), "manual": ctx.clock.manual})

    return [
        Route("/_sandbox/health", health),
        Route("/_sandbox/effects", effects),
        Route("/_sandbox/requests", requests),
        Route("/_sandbox/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route("/_sandbox/clock", clock, methods=["GET", "POST"]),
    ]


def build_app(
    ctx: SandboxContext,
    routes: list[BaseRoute],
    config: SandboxConfig,
    *,
    fault_body: FaultBody = _default_body,
    lifespan: Lifespan[Starlette] | None = None,
) -> FaultInjector:
    """Return the ASGI app: dialect routes + control routes behind the fault injector.

    `lifespan` runs the server's background work (e.g. the OA's event push) with the app.
    """
    starlette = Starlette(routes=[*routes], lifespan=lifespan)
    injector = FaultInjector(starlette, body=fault_body)
    injector.set_plan(config.faults)
    for route in _control_routes(ctx, injector):
        starlette.router.routes.append(route)
    return injector
