"""The worker's web surface: which paths answer, who may call them, how much of a body is read.

Only paths the runtime registers answer; anything else is 404, faust's own views included (its
`/router`, `/table`, statistics and graph views are also switched off, and its `/` index is
never reached). Webhooks are public (their senders prove themselves by signature); readiness and
liveness are public for probes but say only yes or no, details need the token; `/metrics` is
public for Prometheus unless `BIZBUS_METRICS_PUBLIC=false` (counts and names, no record data);
bizbus's own views need `Authorization: Bearer <BIZBUS_WEB_TOKEN>` and do not exist without a
token. A secret path (`<prefix>/<token>`, for a sender that cannot sign, e.g. Odoo's webhooks)
exists only for the token its check accepts: any other is 404 before the body is read. A body over
`BIZBUS_WEBHOOK_MAX_BODY_BYTES` is answered 413 before it is read: by its Content-Length, or
as soon as a streamed (chunked) body passes the limit.
"""

import hmac
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Any

from aiohttp import web

from bizbus.flows.settings import RuntimeSettings

__all__ = ["Access", "WebSurface", "read_body", "too_large"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
TokenCheck = Callable[[str], Awaitable[bool]]
# What aiohttp keeps reading (and discards) of a body the handler refused, before it closes.
LINGER_S = 1.0


class Access(StrEnum):
    """Who may call a path."""

    PUBLIC = "public"
    """Anyone: a webhook, whose handler checks the sender's signature."""
    PROBE = "probe"
    """Anyone, but the answer has details only for a caller with the token (readiness)."""
    PRIVATE = "private"
    """Only a caller with the token; the path does not exist when no token is set."""


def _json(status: int, message: str) -> web.Response:
    return web.json_response({"msg": message}, status=status)


def too_large() -> web.Response:
    """Return the 413 answer; the connection closes, so the rest of the body is not awaited."""
    response = _json(413, "body too large")
    response.force_close()
    return response


async def read_body(request: web.Request, limit: int) -> bytes | None:
    """Return the request body, or None once it proves longer than `limit` (nothing more read)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


class WebSurface:
    """The paths the worker serves, the middleware that guards them and faust's web options.

    Args:
        settings: `BIZBUS_WEB_BIND`, `BIZBUS_WEB_PORT`, `BIZBUS_WEB_TOKEN` and
            `BIZBUS_WEBHOOK_MAX_BODY_BYTES` are read from it.
    """

    def __init__(self, settings: RuntimeSettings) -> None:
        self.bind = settings.web_bind
        self.port = settings.web_port
        self.max_body = settings.webhook_max_body_bytes
        token = settings.web_token.get_secret_value() if settings.web_token else ""
        self._token = f"Bearer {token}".encode() if token else None
        self._paths: dict[str, Access] = {}
        self._secret: dict[str, TokenCheck] = {}  # prefix -> its token check

    def allow(self, path: str, access: Access) -> None:
        """Serve `path` to the callers `access` lets in."""
        self._paths[path] = access

    def allow_secret(self, prefix: str, check: TokenCheck) -> None:
        """Serve `<prefix>/<token>` to anyone, for the tokens `check` accepts (others: 404)."""
        self._secret[prefix.rstrip("/")] = check

    async def _secret_access(self, path: str) -> Access | None:
        prefix, _, token = path.rpartition("/")
        check = self._secret.get(prefix)
        if check is None or not token:
            return None
        return Access.PUBLIC if await check(token) else None

    @property
    def paths(self) -> dict[str, Access]:
        """Return every path served, with who may call it."""
        return dict(self._paths)

    def authorized(self, request: web.Request) -> bool:
        """Whether the request carries the token (never, when no token is configured)."""
        given = request.headers.get("Authorization", "").encode()
        return self._token is not None and hmac.compare_digest(given, self._token)

    def faust_options(self) -> dict[str, Any]:
        """Return the faust App settings of the web server: bind, port, views, middleware."""
        return {
            "web_bind": self.bind,
            "web_port": self.port,
            # faust's introspection views expose table data and cluster layout: none is served.
            "web_router_enabled": False,
            "web_tables_enabled": False,
            "web_stats_enabled": False,
            "web_graph_enabled": False,
            "web_metrics_enabled": False,
            "web_application_options": {
                "middlewares": [self.middleware],
                "client_max_size": self.max_body,
                "handler_args": {"lingering_time": LINGER_S},
            },
        }

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Answer 404 off the registered paths, 401 without the token, 413 to a long body."""
        access = self._paths.get(request.path) or await self._secret_access(request.path)
        if access is None or (access is Access.PRIVATE and self._token is None):
            return _json(404, "not found")
        if access is Access.PRIVATE and not self.authorized(request):
            response = _json(401, "bearer token required")
            response.headers["WWW-Authenticate"] = 'Bearer realm="bizbus"'
            return response
        if request.content_length is not None and request.content_length > self.max_body:
            return too_large()
        return await handler(request)
