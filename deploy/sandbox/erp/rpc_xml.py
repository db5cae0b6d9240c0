"""XML-RPC transport: `POST /xmlrpc/2/{common,object,db}` (and the legacy `/xmlrpc/` paths).

Faults are `<fault>` responses with HTTP 200, as Odoo sends them: faultCode 3 Access Denied,
4 AccessError, 2 UserError/ValidationError, 1 anything else (faultString carries the message).
"""

import logging
import traceback
import xmlrpc.client

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bizbus.deploy.sandbox.erp.errors import OdooError
from bizbus.deploy.sandbox.erp.service import ErpService

__all__ = ["routes"]

_log = logging.getLogger(__name__)


def _fault(code: int, message: str) -> bytes:
    return xmlrpc.client.dumps(xmlrpc.client.Fault(code, message), allow_none=True).encode()


def handle(service: ErpService, name: str, body: bytes) -> bytes:
    """Answer one XML-RPC request body for service `name`."""
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        return _fault(1, "DTDs and entities are not accepted")
    try:
        args, method = xmlrpc.client.loads(body, use_builtin_types=True)
    except Exception as exc:  # noqa: BLE001 - any parse error is the client's fault
        return _fault(1, f"Invalid XML-RPC request: {exc}")
    try:
        result = service.dispatch(name, method, list(args))
        return xmlrpc.client.dumps((result,), methodresponse=True, allow_none=True).encode()
    except OdooError as exc:
        message = exc.message if exc.fault_code != 1 else f"{exc.name}: {exc.message}"
        return _fault(exc.fault_code, message)
    except Exception:  # noqa: BLE001 - Odoo reports unexpected errors as a fault with the traceback
        _log.exception("xmlrpc %s.%s failed", name, method)
        return _fault(1, traceback.format_exc())


def routes(service: ErpService) -> list[BaseRoute]:
    """Return the XML-RPC routes."""

    async def endpoint(request: Request) -> Response:
        body = handle(service, request.path_params["service"], await request.body())
        return Response(body, media_type="text/xml; charset=utf-8")

    return [
        Route("/xmlrpc/2/{service}", endpoint, methods=["POST"]),
        Route("/xmlrpc/{service}", endpoint, methods=["POST"]),
    ]
