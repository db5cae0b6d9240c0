"""JSON-RPC transport: `POST /jsonrpc` (services common/object/db) and web routes.

The web routes are those odoorpc uses to find the server: `/web/webclient/version_info`,
`/web/database/list`.

Errors are HTTP 200 with `{"error": {"code": 200, "message": "Odoo Server Error", "data": ...}}`.
"""

import logging
import traceback
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bizbus.deploy.sandbox.erp.errors import OdooError
from bizbus.deploy.sandbox.erp.seed import DB_NAME
from bizbus.deploy.sandbox.erp.service import VERSION, ErpService

__all__ = ["error_payload", "routes"]

_log = logging.getLogger(__name__)


def error_payload(name: str, message: str, debug: str = "") -> dict[str, Any]:
    """Return the `error` member of a JSON-RPC response, shaped like Odoo's."""
    return {
        "code": 200,
        "message": "Odoo Server Error",
        "data": {
            "name": name,
            "debug": debug or f"Traceback (most recent call last):\n{name}: {message}\n",
            "message": message,
            "arguments": [message],
            "context": {},
        },
    }


def _response(
    request_id: Any, *, result: Any = None, error: dict[str, Any] | None = None
) -> Response:
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id}
    if error is not None:
        body["error"] = error
    else:
        body["result"] = result
    return Response(orjson.dumps(body), media_type="application/json")


def routes(service: ErpService) -> list[BaseRoute]:
    """Return the JSON-RPC routes."""

    async def parse(request: Request) -> tuple[Any, dict[str, Any]] | Response:
        try:
            payload = orjson.loads(await request.body())
        except orjson.JSONDecodeError as exc:
            return _response(None, error=error_payload("werkzeug.exceptions.BadRequest", str(exc)))
        if not isinstance(payload, dict):
            return _response(
                None, error=error_payload("werkzeug.exceptions.BadRequest", "Invalid JSON-RPC data")
            )
        params = payload.get("params") or {}
        return payload.get("id"), params if isinstance(params, dict) else {}

    async def jsonrpc(request: Request) -> Response:
        parsed = await parse(request)
        if isinstance(parsed, Response):
            return parsed
        request_id, params = parsed
        try:
            args = params.get("args") or []
            result = service.dispatch(params.get("service"), params.get("method"), list(args))
        except OdooError as exc:
            return _response(request_id, error=error_payload(exc.name, exc.message))
        except Exception as exc:  # noqa: BLE001 - Odoo reports unexpected errors in the envelope
            _log.exception("jsonrpc call failed")
            return _response(
                request_id,
                error=error_payload(type(exc).__name__, str(exc), traceback.format_exc()),
            )
        return _response(request_id, result=result)

    async def version_info(request: Request) -> Response:
        parsed = await parse(request)
        return parsed if isinstance(parsed, Response) else _response(parsed[0], result=VERSION)

    async def database_list(request: Request) -> Response:
        parsed = await parse(request)
        return parsed if isinstance(parsed, Response) else _response(parsed[0], result=[DB_NAME])

    return [
        Route("/jsonrpc", jsonrpc, methods=["POST"]),
        Route("/web/webclient/version_info", version_info, methods=["POST"]),
        Route("/web/database/list", database_list, methods=["POST"]),
    ]
