"""HTTP routes of the sandbox DingTalk: oauth2 + workflow 1.0, legacy user get, and controls.

New-API calls need ``x-acs-dingtalk-access-token`` (401 ``InvalidAuthentication`` otherwise);
the legacy ``/topapi/v2/user/get`` takes ``?access_token=`` (errcode 40014 otherwise).
Controls: /_sandbox/callbacks (GET/POST/DELETE), /_sandbox/deliveries, /_sandbox/delivery,
/_sandbox/users, /_sandbox/instances/revoke (撤销 of an approved instance).
"""

import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute

from bizbus.deploy.sandbox.dingtalk.book import Book, Event
from bizbus.deploy.sandbox.dingtalk.delivery import DeliverySettings, Pusher, RegistrationError
from bizbus.deploy.sandbox.dingtalk.errors import DingTalkError, LegacyError
from bizbus.deploy.sandbox.dingtalk.stream import StreamHub

__all__ = ["dingtalk_routes"]

Handler = Callable[[Request], Awaitable[Response]]
_TOKEN_TTL_S = 7200


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.body() or b"{}")
    except orjson.JSONDecodeError:
        raise DingTalkError("invalidParameter", "body is not JSON") from None
    if not isinstance(body, dict):
        raise DingTalkError("invalidParameter", "body must be a JSON object")
    return body


def dingtalk_routes(
    book: Book, pusher: Pusher, hub: StreamHub, *, app_secret: str
) -> list[BaseRoute]:
    """The routes bound to one org's book, its HTTP pusher and its stream."""
    clock, store = book.ctx.clock, book.store

    def valid(token: str) -> bool:
        rows = store.query("SELECT expires_at FROM tokens WHERE token = ?", (token,))
        return bool(rows) and rows[0]["expires_at"] > clock.now().timestamp()

    def authed(handler: Handler) -> Handler:
        async def wrapped(request: Request) -> Response:
            try:
                if not valid(request.headers.get("x-acs-dingtalk-access-token", "")):
                    raise DingTalkError(
                        "InvalidAuthentication", "不合法的access_token", http_status=401
                    )
                return await handler(request)
            except DingTalkError as error:
                return error.response()

        return wrapped

    def push(events: list[Event]) -> None:
        for event in events:
            pusher.publish(event)
            hub.publish(event)

    def app_credentials(key: Any, secret: Any) -> bool:
        return key == book.app_key and secrets.compare_digest(str(secret or ""), app_secret)

    async def access_token(request: Request) -> Response:
        try:
            body = await _body(request)
        except DingTalkError as error:
            return error.response()
        if not app_credentials(body.get("appKey"), body.get("appSecret")):
            return DingTalkError(
                "invalidClientIdOrSecret", "无效的clientId或者clientSecret"
            ).response()
        now = clock.now().timestamp()
        rows = store.query(
            "SELECT token, expires_at FROM tokens WHERE expires_at > ? "
            "ORDER BY expires_at DESC LIMIT 1", (now + 600,),
        )  # fmt: skip
        if rows:
            token, expires_at = rows[0]["token"], rows[0]["expires_at"]
        else:
            token, expires_at = secrets.token_hex(16), now + _TOKEN_TTL_S
            store.db.execute("INSERT INTO tokens VALUES (?, ?)", (token, expires_at))
        return JSONResponse({"accessToken": token, "expireIn": int(expires_at - now)})

    @authed
    async def instances(request: Request) -> Response:
        if request.method == "POST":
            instance_id, events = book.create(await _body(request))
            push(events)
            return JSONResponse({"instanceId": instance_id})
        result = book.detail(request.query_params.get("processInstanceId"))
        return JSONResponse({"result": result, "success": True})

    @authed
    async def list_ids(request: Request) -> Response:
        return JSONResponse({"result": book.list_ids(await _body(request)), "success": True})

    @authed
    async def execute(request: Request) -> Response:
        push(book.execute(await _body(request)))
        return JSONResponse({"result": True, "success": True})

    @authed
    async def terminate(request: Request) -> Response:
        push(book.terminate(await _body(request)))
        return JSONResponse({"result": True, "success": True})

    async def user_get(request: Request) -> Response:
        try:
            if not valid(request.query_params.get("access_token", "")):
                raise LegacyError(40014, "不合法的access_token")
            body = orjson.loads(await request.body() or b"{}")
            try:
                user = book.user(body.get("userid"))
            except DingTalkError:
                raise LegacyError(60121, "找不到该用户") from None
        except LegacyError as error:
            return error.response()
        result = {
            "userid": user["userid"], "unionid": user["unionid"], "name": user["name"],
            "job_number": user["job_number"], "org_email": user["org_email"],
            "mobile": user["mobile"], "title": user["title"], "dept_id_list": [user["dept_id"]],
            "manager_userid": user["manager_userid"] or "", "active": True,
        }  # fmt: skip
        return JSONResponse({"errcode": 0, "errmsg": "ok", "result": result,
                             "request_id": secrets.token_hex(8)})  # fmt: skip

    async def callbacks(request: Request) -> Response:
        if request.method == "POST":
            body = orjson.loads(await request.body() or b"{}")
            try:
                callback = await pusher.register(str(body.get("url", "")))
            except RegistrationError as error:
                return JSONResponse({"error": str(error)}, status_code=400)
            return JSONResponse(callback, status_code=201)
        if request.method == "DELETE":
            raw = request.query_params.get("id")
            return JSONResponse({"removed": pusher.remove(int(raw) if raw else None)})
        return JSONResponse({"callbacks": pusher.callbacks()})

    async def deliveries(request: Request) -> Response:
        rows = pusher.deliveries(instance_id=request.query_params.get("instance_id"))
        return JSONResponse({"deliveries": rows})

    async def delivery_settings(request: Request) -> Response:
        if request.method == "POST":
            pusher.settings = DeliverySettings.model_validate(
                {**pusher.settings.model_dump(), **orjson.loads(await request.body())}
            )
        return JSONResponse(pusher.settings.model_dump())

    async def revoke(request: Request) -> Response:
        try:
            body = await _body(request)
            push(book.terminate({**body, "isSystem": True}, approved_too=True))
        except DingTalkError as error:
            return error.response()
        return JSONResponse({"result": True, "success": True})

    async def open_connection(request: Request) -> Response:
        try:
            body = await _body(request)
        except DingTalkError as error:
            return error.response()
        if not app_credentials(body.get("clientId"), body.get("clientSecret")):
            refused = DingTalkError("invalidClientIdOrSecret", "无效的clientId或者clientSecret")
            return refused.response()
        endpoint = f"ws://{request.url.netloc}/v1.0/gateway/connections/ws"
        return JSONResponse({"endpoint": endpoint, "ticket": hub.ticket()})

    async def stream_deliveries(_: Request) -> Response:
        return JSONResponse({"connections": hub.connections, "deliveries": hub.deliveries()})

    async def users(_: Request) -> Response:
        return JSONResponse({"users": book.users()})

    v1 = "/v1.0/workflow"
    return [
        Route("/v1.0/oauth2/accessToken", access_token, methods=["POST"]),
        Route(f"{v1}/processInstances", instances, methods=["GET", "POST"]),
        Route(f"{v1}/processes/instanceIds/query", list_ids, methods=["POST"]),
        Route(f"{v1}/processInstances/execute", execute, methods=["POST"]),
        Route(f"{v1}/processInstances/terminate", terminate, methods=["POST"]),
        Route("/topapi/v2/user/get", user_get, methods=["POST"]),
        Route("/_sandbox/callbacks", callbacks, methods=["GET", "POST", "DELETE"]),
        Route("/_sandbox/deliveries", deliveries, methods=["GET"]),
        Route("/_sandbox/delivery", delivery_settings, methods=["GET", "POST"]),
        Route("/v1.0/gateway/connections/open", open_connection, methods=["POST"]),
        WebSocketRoute("/v1.0/gateway/connections/ws", hub.serve),
        Route("/_sandbox/stream/deliveries", stream_deliveries, methods=["GET"]),
        Route("/_sandbox/users", users, methods=["GET"]),
        Route("/_sandbox/instances/revoke", revoke, methods=["POST"]),
    ]
