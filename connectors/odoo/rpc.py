"""Odoo external API calls: JSON-RPC ``execute_kw`` (Odoo 14-19) or JSON-2 (19+), fault mapping.

JSON-RPC: ``POST /jsonrpc``; uid from ``common.authenticate`` once (single-flight); Odoo faults
arrive as HTTP 200 with ``error``. JSON-2: ``POST /json/2/{model}/{method}`` with
``Authorization: bearer <api key>`` and named arguments; faults are real HTTP statuses. HTTP
5xx/429 and transport errors go through ``HttpConnector`` (bounded retries, ``Retry-After``).
"""

import asyncio
import itertools
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, ClassVar, Literal

import httpx
import orjson
from pydantic import SecretStr

from bizbus.connectors.auth import AccessToken, OdooApiKey
from bizbus.connectors.errors import AuthError, ConnectorError, RejectedError, TransientError
from bizbus.connectors.httpbase import HttpConnector

__all__ = ["IDEMPOTENT_METHODS", "OdooRpc", "encode_value", "fault_error", "odoo_datetime"]

Protocol = Literal["jsonrpc", "json2"]
Domain = Sequence[Any]

# Calls that change nothing, or leave the same state when repeated: safe to resend after a
# 5xx. ``create`` and actions are not: the sink's search-first makes a whole re-apply safe.
IDEMPOTENT_METHODS = frozenset(
    {"search", "search_read", "search_count", "read", "fields_get", "name_search", "name_get",
     "exists", "default_get", "check_access_rights", "context_get", "write"}
)  # fmt: skip
# JSON-2 takes named arguments; positional ``execute`` arguments are named from this table
# (any other method is a record method taking ``ids`` first, like Odoo's ``action_*``).
_PARAMS: dict[str, tuple[str, ...]] = {
    "search_read": ("domain", "fields", "offset", "limit", "order"),
    "search": ("domain", "offset", "limit", "order"),
    "search_count": ("domain", "limit"),
    "read": ("ids", "fields"),
    "create": ("vals_list",),
    "write": ("ids", "vals"),
    "fields_get": ("allfields", "attributes"),
    "default_get": ("fields_list",),
}
# Faults Odoo raises after exhausting its own serialization retries: the next try may pass.
_TRANSIENT_FAULTS = ("SerializationFailure", "LockNotAvailable", "DeadlockDetected")
_AUTH_FAULTS = ("odoo.exceptions.AccessDenied", "odoo.exceptions.AccessError")
_MESSAGE_CHARS = 160
_JSON = {"Content-Type": "application/json", "Accept": "application/json"}


def odoo_datetime(moment: datetime) -> str:
    """``YYYY-MM-DD HH:MM:SS`` in UTC, as Odoo stores and compares datetimes."""
    if moment.tzinfo is None:
        raise ValueError("datetimes sent to Odoo must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def encode_value(value: Any) -> Any:
    """Encode what orjson cannot: Decimal as a number, datetime as Odoo UTC text, date as ISO."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return odoo_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple | frozenset | set):
        return list(value)
    raise TypeError(f"cannot send {type(value).__name__} to Odoo")


def _short(message: object) -> str:
    text = str(message or "").strip().splitlines()[0] if message else ""
    return text if len(text) <= _MESSAGE_CHARS else text[: _MESSAGE_CHARS - 1] + "…"


def fault_error(
    name: str, message: object, *, where: str, status: int | None = None
) -> ConnectorError:
    """Map an Odoo exception (class name + message) to our error tree.

    | Odoo exception                           | error          |
    |------------------------------------------|----------------|
    | ``odoo.exceptions.AccessDenied``         | AuthError      |
    | ``odoo.exceptions.AccessError``          | AuthError      |
    | serialization failure, lock, deadlock    | TransientError |
    | anything else (UserError, Validation...) | RejectedError  |

    Args:
        name: The exception's dotted class name as Odoo reports it.
        message: Odoo's message (only its first line, shortened, is kept).
        where: ``model.method`` for the message.
        status: HTTP status, when the fault came as one (JSON-2).
    """
    short = name.rsplit(".", 1)[-1] if name.startswith("odoo.exceptions.") else name
    text = f"odoo: {where} raised {short or 'an error'}"
    detail = _short(message)
    if detail:
        text = f"{text}: {detail}"
    if name in _AUTH_FAULTS:
        return AuthError(text, system="odoo", status_code=status)
    if any(marker in name for marker in _TRANSIENT_FAULTS):
        return TransientError(text, system="odoo", status_code=status)
    return RejectedError(text, system="odoo", status_code=status)


class OdooRpc(HttpConnector):
    """Low-level Odoo calls on one pooled client; ``OdooConnector`` adds feeds and upserts.

    Args:
        base_url: The Odoo server's root URL.
        db: Database name.
        login: The integration user's login.
        secret: Its API key (or password, JSON-RPC only).
        protocol: ``jsonrpc`` or ``json2``.
        uid: The user's id when known (skips ``common.authenticate``).
        **http: Options of ``HttpConnector`` (timeout, limits, retry, budget, transport, sleep).
    """

    system: ClassVar[str] = "odoo"

    def __init__(
        self,
        base_url: str,
        db: str,
        *,
        login: str,
        secret: SecretStr,
        protocol: Protocol = "jsonrpc",
        uid: int | None = None,
        **http: Any,
    ) -> None:
        self.credentials = OdooApiKey(db, login, secret=secret)
        # JSON-RPC carries the key in the body; only JSON-2 puts it on a header.
        token = self.credentials if protocol == "json2" else None
        headers = {"X-Odoo-Database": db} if protocol == "json2" else {}
        super().__init__(base_url, token=token, headers=headers, **http)
        self.db = db
        self.login = login
        self.protocol: Protocol = protocol
        self._secret = secret
        self._uid = uid
        self._uid_inflight: asyncio.Future[int] | None = None
        self._ids = itertools.count(1)

    # -- hooks ---------------------------------------------------------------------------

    def auth_headers(self, token: AccessToken) -> dict[str, str]:
        """JSON-2 wants ``Authorization: bearer <api key>``."""
        return {"Authorization": f"bearer {token.value}"}

    def error_detail(self, response: httpx.Response) -> str | None:
        """The Odoo exception of a JSON-2 error body (class and a short message)."""
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(body, dict) or not isinstance(body.get("name"), str):
            return None
        name = str(body["name"]).rsplit(".", 1)[-1]
        detail = _short(body.get("message"))
        return f"{name}: {detail}" if detail else name

    # -- identity ------------------------------------------------------------------------

    async def uid(self) -> int:
        """The integration user's id, asked once (concurrent callers share one request).

        Raises:
            AuthError: Odoo refused the login and key.
        """
        if self._uid is not None:
            return self._uid
        if self._uid_inflight is None:
            self._uid_inflight = asyncio.ensure_future(self._authenticate())
            self._uid_inflight.add_done_callback(self._clear_uid_inflight)
        # shield: one cancelled caller must not cancel the lookup the others await.
        return await asyncio.shield(self._uid_inflight)

    def _clear_uid_inflight(self, _: "asyncio.Future[int]") -> None:
        self._uid_inflight = None

    async def _authenticate(self) -> int:
        if self.protocol == "json2":
            found = await self._json2("res.users", "search",
                                      {"domain": [("login", "=", self.login)], "limit": 1},
                                      idempotent=True)  # fmt: skip
            uid = found[0] if isinstance(found, list) and found else None
        else:
            uid = await self._jsonrpc("common", "authenticate",
                                      [self.db, self.login, self._secret.get_secret_value(), {}],
                                      where="common.authenticate", idempotent=True)  # fmt: skip
        if not isinstance(uid, int) or isinstance(uid, bool) or uid < 1:
            raise AuthError(
                "odoo: the login and API key were refused "
                "(check BIZBUS_ERP_DB, BIZBUS_ERP_LOGIN and BIZBUS_ERP_API_KEY)",
                system=self.system,
            )
        self._uid = uid
        return uid

    # -- calls ---------------------------------------------------------------------------

    async def call(
        self,
        model: str,
        method: str,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        idempotent: bool | None = None,
    ) -> Any:
        """Run ``model.method(*args, **kwargs)`` in Odoo and return its result.

        Args:
            model: Model name, e.g. ``sale.order``.
            method: Method name, e.g. ``search_read`` or ``action_confirm``.
            args: Positional arguments (record methods take the ids first).
            kwargs: Keyword arguments (``context`` included).
            idempotent: May the call be resent after a 5xx? Default: ``IDEMPOTENT_METHODS``.

        Raises:
            AuthError: Key refused, or AccessError.
            RejectedError: Odoo raised UserError, ValidationError, MissingError, ...
            TransientError: 5xx/timeouts after the retry policy gave up (RateLimited for 429).
        """
        safe = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        if self.protocol == "json2":
            return await self._json2(model, method, _named(method, args, kwargs), idempotent=safe)
        uid = await self.uid()
        params = [self.db, uid, self._secret.get_secret_value(), model, method, list(args),
                  dict(kwargs or {})]  # fmt: skip
        return await self._jsonrpc("object", "execute_kw", params, where=f"{model}.{method}",
                                   idempotent=safe)  # fmt: skip

    async def execute(self, model: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """``call(model, method, args, kwargs)`` with Odoo's own argument style."""
        return await self.call(model, method, args, kwargs)

    async def search_read(
        self,
        model: str,
        domain: Domain,
        *,
        fields: Sequence[str] | None = None,
        order: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Records matching ``domain`` (many2one values read as ``[id, name]``)."""
        kwargs: dict[str, Any] = {"fields": list(fields) if fields else []}
        if order:
            kwargs["order"] = order
        if limit:
            kwargs["limit"] = limit
        if offset:
            kwargs["offset"] = offset
        rows = await self.call(model, "search_read", [list(domain)], kwargs)
        return [row for row in rows if isinstance(row, dict)] if isinstance(rows, list) else []

    async def search(self, model: str, domain: Domain, *, limit: int | None = None) -> list[int]:
        """Ids of the records matching ``domain``."""
        kwargs = {"limit": limit} if limit else {}
        ids = await self.call(model, "search", [list(domain)], kwargs)
        return [int(i) for i in ids] if isinstance(ids, list) else []

    async def search_count(self, model: str, domain: Domain) -> int:
        """How many records match ``domain``."""
        return int(await self.call(model, "search_count", [list(domain)]))

    async def read(
        self, model: str, ids: Sequence[int], *, fields: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """Read records by id."""
        rows = await self.call(model, "read", [list(ids)], {"fields": list(fields or [])})
        return [row for row in rows if isinstance(row, dict)] if isinstance(rows, list) else []

    async def create(self, model: str, values: Mapping[str, Any]) -> int:
        """Create one record and return its id (never resent after a 5xx: search first)."""
        created = await self.call(model, "create", [dict(values)])
        record_id = created[0] if isinstance(created, list) and created else created
        if not isinstance(record_id, int) or isinstance(record_id, bool):
            raise TransientError(f"odoo: {model}.create answered no id", system=self.system)
        return record_id

    async def write(self, model: str, ids: Sequence[int], values: Mapping[str, Any]) -> None:
        """Write ``values`` on records (resent after a 5xx: the same write twice is one state)."""
        await self.call(model, "write", [list(ids), dict(values)])

    async def ping(self) -> None:
        """One cheap authenticated call; raises AuthError, TransientError, ... on failure."""
        await self.call("res.users", "search", [[("id", "=", await self.uid())]], {"limit": 1})

    # -- transports ----------------------------------------------------------------------

    async def _jsonrpc(
        self, service: str, method: str, args: list[Any], *, where: str, idempotent: bool
    ) -> Any:
        body = {"jsonrpc": "2.0", "method": "call", "id": next(self._ids),
                "params": {"service": service, "method": method, "args": args}}  # fmt: skip
        response = await self.request("POST", "/jsonrpc", content=_dumps(body), headers=_JSON,
                                      idempotent=idempotent, operation=where)  # fmt: skip
        answer = _loads(response, where=where)
        if not isinstance(answer, dict):
            raise TransientError(f"odoo: {where} answered an unexpected shape", system="odoo")
        error = answer.get("error")
        if error is not None:
            data = error.get("data") if isinstance(error, dict) else None
            data = data if isinstance(data, dict) else {}
            name = data.get("name") or (error.get("message") if isinstance(error, dict) else "")
            raise fault_error(str(name or ""), data.get("message"), where=where)
        return answer.get("result")

    async def _json2(
        self, model: str, method: str, named: Mapping[str, Any], *, idempotent: bool
    ) -> Any:
        response = await self.request("POST", f"/json/2/{model}/{method}", content=_dumps(named),
                                      headers=_JSON, idempotent=idempotent,
                                      operation=f"{model}.{method}")  # fmt: skip
        return _loads(response, where=f"{model}.{method}")


def _named(method: str, args: Sequence[Any], kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    names = _PARAMS.get(method, ("ids",))
    if len(args) > len(names):
        raise RejectedError(
            f"odoo: {method} takes at most {len(names)} positional arguments over JSON-2; "
            "pass the others by name",
            system="odoo",
        )
    named = dict(zip(names, args, strict=False))
    for key, value in (kwargs or {}).items():
        if key in named:
            raise RejectedError(f"odoo: {method} got {key} twice", system="odoo")
        named[key] = value
    return named


def _dumps(body: Any) -> bytes:
    return orjson.dumps(body, default=encode_value)


def _loads(response: httpx.Response, *, where: str) -> Any:
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        # A proxy's HTML error page in front of Odoo, or a truncated body.
        raise TransientError(f"odoo: {where} answered non-JSON", system="odoo") from None
