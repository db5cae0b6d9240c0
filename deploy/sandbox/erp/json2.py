"""JSON-2 transport (Odoo 19+): `POST /json/2/{model}/{method}` with `Authorization: bearer <key>`.

The body holds named arguments (`ids`, `domain`, `fields`, `vals`/`vals_list`, `context`, ...);
the answer is the bare result. Errors are real HTTP statuses (401, 403, 404, 422, 500) with
`{"name", "message", "arguments", "context", "debug"}`.
"""

import logging
import traceback
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bizbus.deploy.sandbox.erp.errors import AccessDenied, InvalidCall, OdooError
from bizbus.deploy.sandbox.erp.service import ErpService

__all__ = ["error_body", "routes"]

_log = logging.getLogger(__name__)


def error_body(name: str, message: str, debug: str = "") -> bytes:
    """Return a JSON-2 error body."""
    return orjson.dumps(
        {"name": name, "message": message, "arguments": [message], "context": {}, "debug": debug}
    )


def routes(service: ErpService) -> list[BaseRoute]:
    """Return the JSON-2 route."""

    async def endpoint(request: Request) -> Response:
        try:
            scheme, _, key = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer":
                raise AccessDenied("Missing bearer API key")
            uid, login = service.user_for_key(key.strip())
            db = request.headers.get("x-odoo-database")
            if db is not None:
                service.login(db, login, key.strip())
            raw = await request.body()
            try:
                kwargs: Any = orjson.loads(raw) if raw.strip() else {}
            except orjson.JSONDecodeError as exc:
                raise InvalidCall(
                    f"Invalid JSON body: {exc}", name="werkzeug.exceptions.BadRequest", status=400
                ) from None
            if not isinstance(kwargs, dict):
                raise InvalidCall(
                    "The body must be a JSON object of named arguments",
                    name="werkzeug.exceptions.BadRequest",
                    status=400,
                )
            result = service.execute(
                uid, login, request.path_params["model"], request.path_params["method"], [], kwargs
            )
        except OdooError as exc:
            status = exc.http_status
            return Response(
                error_body(exc.name, exc.message), status_code=status, media_type="application/json"
            )
        except Exception as exc:  # noqa: BLE001 - reported as Odoo does: 500 with the traceback
            _log.exception("json-2 call failed")
            return Response(
                error_body(type(exc).__name__, str(exc), traceback.format_exc()),
                status_code=500,
                media_type="application/json",
            )
        return Response(orjson.dumps(result), media_type="application/json")

    return [Route("/json/2/{model}/{method}", endpoint, methods=["POST"])]
