"""HTTP routes of the sandbox OA: Feishu open-apis (auth, approval v4, contact users) + controls.

Every open-apis call but the token one needs `Authorization: Bearer t-...` (99991661 missing,
99991663 invalid or expired). Controls: /_sandbox/callbacks (GET/POST/DELETE),
/_sandbox/deliveries, /_sandbox/delivery (push settings), /_sandbox/employees,
/_sandbox/instances/revert (撤销 of an approved instance, which Feishu's open API lacks).
"""

import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bizbus.deploy.sandbox.oa.approvals import ApprovalBook, StatusChange
from bizbus.deploy.sandbox.oa.contact import contact_user
from bizbus.deploy.sandbox.oa.delivery import DeliverySettings, Pusher, RegistrationError
from bizbus.deploy.sandbox.oa.errors import (
    APP_NOT_FOUND,
    APP_SECRET_INVALID,
    INVALID_TOKEN,
    MISSING_TOKEN,
    PARAM_INVALID,
    FeishuError,
    log_id,
)

__all__ = ["oa_routes"]

Handler = Callable[[Request], Awaitable[Response]]
_TOKEN_TTL_S = 7200
_TOKEN_REUSE_S = 1800  # Feishu hands out the same token until it has < 30 min left


def _ok(data: dict[str, Any]) -> JSONResponse:
    return JSONResponse(
        {"code": 0, "msg": "success", "data": data}, headers={"X-Tt-Logid": log_id()}
    )


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise FeishuError(PARAM_INVALID, "param is invalid: body is not JSON") from None
    if not isinstance(body, dict):
        raise FeishuError(PARAM_INVALID, "param is invalid: body must be a JSON object")
    return body


def _int_param(request: Request, name: str, default: int | None = None) -> int:
    raw = request.query_params.get(name)
    if raw is None and default is not None:
        return default
    try:
        return int(raw or "")
    except ValueError:
        raise FeishuError(PARAM_INVALID, f"param is invalid: {name} must be an integer") from None


def oa_routes(book: ApprovalBook, pusher: Pusher, *, app_secret: str) -> list[BaseRoute]:
    """Return the OA routes bound to its approval book and event pusher."""
    clock, store = book.ctx.clock, book.store

    def authed(handler: Handler) -> Handler:
        async def wrapped(request: Request) -> Response:
            try:
                header = request.headers.get("authorization", "")
                if not header.startswith("Bearer ") or not header[7:].strip():
                    raise FeishuError(
                        MISSING_TOKEN, "Missing access token for authorization. "
                        "Please make a request with token attached.",
                    )  # fmt: skip
                rows = store.query(
                    "SELECT expires_at FROM tokens WHERE token = ?", (header[7:].strip(),)
                )
                if not rows or rows[0]["expires_at"] <= clock.now().timestamp():
                    raise FeishuError(
                        INVALID_TOKEN, "Invalid access token for authorization. "
                        "Please make a request with token attached.",
                    )  # fmt: skip
                return await handler(request)
            except FeishuError as error:
                return error.response()

        return wrapped

    def publish(changes: list[StatusChange]) -> None:
        for change in changes:
            if book.subscribed(change.approval_code):
                pusher.publish(change)

    async def tenant_token(request: Request) -> Response:
        try:
            body = await _body(request)
            if body.get("app_id") != book.app_id:
                raise FeishuError(APP_NOT_FOUND, "app_id is invalid")
            if not secrets.compare_digest(str(body.get("app_secret", "")), app_secret):
                raise FeishuError(APP_SECRET_INVALID, "app secret invalid")
        except FeishuError as error:
            return error.response()
        now = clock.now().timestamp()
        rows = store.query(
            "SELECT token, expires_at FROM tokens WHERE app_id = ? AND expires_at > ? "
            "ORDER BY expires_at DESC LIMIT 1",
            (book.app_id, now + _TOKEN_REUSE_S),
        )
        if rows:
            token, expires_at = rows[0]["token"], rows[0]["expires_at"]
        else:
            token, expires_at = "t-g1" + secrets.token_hex(20), now + _TOKEN_TTL_S
            store.db.execute(
                "INSERT INTO tokens VALUES (?, ?, ?)", (token, book.app_id, expires_at)
            )
        return JSONResponse(
            {"code": 0, "msg": "ok", "tenant_access_token": token,
             "expire": int(expires_at - now)}
        )  # fmt: skip

    @authed
    async def get_approval(request: Request) -> Response:
        return _ok(book.definition(request.path_params["approval_code"]))

    @authed
    async def subscribe(request: Request) -> Response:
        book.subscribe(request.path_params["approval_code"])
        return _ok({})

    @authed
    async def instances(request: Request) -> Response:
        if request.method == "POST":
            code, changes = book.create(await _body(request))
            publish(changes)
            return _ok({"instance_code": code})
        data = book.list_codes(
            request.query_params.get("approval_code", ""),
            _int_param(request, "start_time"), _int_param(request, "end_time"),
            page_size=_int_param(request, "page_size", 100),
            page_token=request.query_params.get("page_token", ""),
        )  # fmt: skip
        return _ok(data)

    @authed
    async def get_instance(request: Request) -> Response:
        return _ok(book.detail(request.path_params["instance_code"]))

    def action(kind: str) -> Handler:
        @authed
        async def handler(request: Request) -> Response:
            body = await _body(request)
            id_type = request.query_params.get("user_id_type", "open_id")
            if kind == "cancel":
                changes = book.cancel(body, id_type=id_type)
            else:
                changes = book.decide(body, approve=kind == "approve", id_type=id_type)
            publish(changes)
            return _ok({})

        return handler

    async def callbacks(request: Request) -> Response:
        if request.method == "POST":
            body = orjson.loads(await request.body() or b"{}")
            try:
                callback = await pusher.register(
                    str(body.get("url", "")), body.get("approval_code")
                )
            except RegistrationError as error:
                return JSONResponse({"error": str(error)}, status_code=400)
            return JSONResponse(callback, status_code=201)
        if request.method == "DELETE":
            raw = request.query_params.get("id")
            return JSONResponse({"removed": pusher.remove(int(raw) if raw else None)})
        return JSONResponse({"callbacks": pusher.callbacks()})

    async def deliveries(request: Request) -> Response:
        rows = pusher.deliveries(
            since=int(request.query_params.get("since", "0")),
            instance_code=request.query_params.get("instance_code"),
        )
        return JSONResponse({"deliveries": rows})

    async def delivery_settings(request: Request) -> Response:
        if request.method == "POST":
            pusher.settings = DeliverySettings.model_validate(
                {**pusher.settings.model_dump(), **orjson.loads(await request.body())}
            )
        return JSONResponse(pusher.settings.model_dump())

    async def revert(request: Request) -> Response:
        try:
            body = await _body(request)
            changes = book.revert(str(body.get("instance_code") or ""),
                                  comment=str(body.get("comment") or ""))  # fmt: skip
        except FeishuError as error:
            return error.response()
        publish(changes)
        return _ok({})

    @authed
    async def get_user(request: Request) -> Response:
        user = contact_user(
            store, request.path_params["user_id"],
            user_id_type=request.query_params.get("user_id_type", "open_id"),
            department_id_type=request.query_params.get("department_id_type",
                                                         "open_department_id"),
        )  # fmt: skip
        return _ok({"user": user})

    async def employees(_: Request) -> Response:
        return JSONResponse({"employees": book.employees()})

    v4 = "/open-apis/approval/v4"
    return [
        Route("/open-apis/auth/v3/tenant_access_token/internal", tenant_token, methods=["POST"]),
        Route(f"{v4}/approvals/{{approval_code}}", get_approval, methods=["GET"]),
        Route(f"{v4}/approvals/{{approval_code}}/subscribe", subscribe, methods=["POST"]),
        Route(f"{v4}/instances", instances, methods=["GET", "POST"]),
        Route(f"{v4}/instances/cancel", action("cancel"), methods=["POST"]),
        Route(f"{v4}/instances/{{instance_code}}", get_instance, methods=["GET"]),
        Route(f"{v4}/tasks/approve", action("approve"), methods=["POST"]),
        Route(f"{v4}/tasks/reject", action("reject"), methods=["POST"]),
        Route("/open-apis/contact/v3/users/{user_id}", get_user, methods=["GET"]),
        Route("/_sandbox/callbacks", callbacks, methods=["GET", "POST", "DELETE"]),
        Route("/_sandbox/deliveries", deliveries, methods=["GET"]),
        Route("/_sandbox/delivery", delivery_settings, methods=["GET", "POST"]),
        Route("/_sandbox/employees", employees, methods=["GET"]),
        Route("/_sandbox/instances/revert", revert, methods=["POST"]),
    ]
