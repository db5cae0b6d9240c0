"""Feishu/Lark Open Platform calls (approval v4, contact v3 users) on one pooled client.

Auth: ``tenant_access_token`` (``FeishuTenantToken``), refreshed once when a call answers a
token code. Every answer is ``{"code", "msg", "data"}``; a non-zero ``code`` is an error even
with HTTP 200. Limits: instance detail and users/get 1000/min and 50/s, subscribe 100/min per app.

| answer                                         | error                                |
|------------------------------------------------|--------------------------------------|
| code 99991661/3/4 (after one refresh), 401/403 | AuthError                            |
| code 99991400, HTTP 429                        | RateLimited (``Retry-After``)        |
| code 1395001, HTTP 408/5xx                     | TransientError                       |
| other codes (1390001/2/3, 60012, 41050, ...)   | FeishuRejected (a RejectedError)     |
"""

import re
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar
from urllib.parse import quote

import httpx
import orjson

from bizbus.connectors.auth import FeishuTenantToken, TokenProvider
from bizbus.connectors.errors import (
    AuthError,
    ConnectorError,
    RateLimited,
    RejectedError,
    TransientError,
)
from bizbus.connectors.feishu.contact import CONTACT_V3, USER_ID_TYPES, FeishuUser, parse_user
from bizbus.connectors.httpbase import HttpConnector
from bizbus.connectors.status import error_for_response, error_for_transport, parse_retry_after

__all__ = [
    "APPROVAL_V4",
    "INSTANCE_NOT_FOUND",
    "SUBSCRIPTION_EXISTS",
    "TOKEN_CODES",
    "FeishuAppToken",
    "FeishuClient",
    "FeishuRejected",
    "feishu_code",
]

APPROVAL_V4 = "/open-apis/approval/v4"
TOKEN_CODES = frozenset({99991661, 99991663, 99991664})
RATE_LIMITED = 99991400
SERVER_BUSY = 1395001
INSTANCE_NOT_FOUND = 1390003
SUBSCRIPTION_EXISTS = 1390007
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|\S+@\S+")
_MSG_MAX = 120
_JSON = {"Content-Type": "application/json; charset=utf-8"}


class FeishuRejected(RejectedError):
    """Feishu refused the request with a business code (``code``), e.g. 60012 uuid conflict."""

    def __init__(
        self, message: str, *, code: int, system: str = "feishu", status_code: int | None = None
    ) -> None:
        super().__init__(message, system=system, status_code=status_code)
        self.code = code


def feishu_code(response: httpx.Response) -> tuple[int | None, str]:
    """The ``code`` and a safe ``msg`` of a Feishu answer; ``(None, "")`` for non-JSON bodies.

    Quoted text and e-mail addresses are cut from ``msg`` (they can carry personal data).
    """
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None, ""
    if not isinstance(body, dict):
        return None, ""
    code = body.get("code")
    if not isinstance(code, int) or isinstance(code, bool):
        return None, ""
    msg = body.get("msg")
    text = _QUOTED.sub("'…'", msg)[:_MSG_MAX] if isinstance(msg, str) else ""
    return code, text


def _retry_after(response: httpx.Response) -> float | None:
    value = parse_retry_after(response.headers.get("Retry-After"))
    if value is None:  # Feishu's gateway says when the quota window resets, in seconds
        value = parse_retry_after(response.headers.get("x-ogw-ratelimit-reset"))
    return value


class FeishuAppToken(FeishuTenantToken):
    """``FeishuTenantToken`` whose refusals name Feishu's code (10003 app id, 10014 secret)."""

    async def _post(self, client: httpx.AsyncClient, url: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = await client.post(url, **kwargs)
        except httpx.TransportError as exc:
            raise error_for_transport(exc, system=self.system) from exc
        code, msg = feishu_code(response)
        error = error_for_response(response, system=self.system)
        if code == RATE_LIMITED and not isinstance(error, RateLimited):
            error = RateLimited("feishu: token endpoint rate limited", system=self.system)
        if isinstance(error, RejectedError | AuthError) or (error is None and code):
            status = response.status_code
            error = AuthError(
                f"feishu: token request refused (code {code}: {msg}); check BIZBUS_OA_APP_ID "
                "and BIZBUS_OA_APP_SECRET",
                system=self.system,
                status_code=status,
            )
        if error is not None:
            raise error
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            raise AuthError("feishu: token endpoint answered an unexpected shape", system="feishu")
        return body


class FeishuClient(HttpConnector):
    """Low-level approval v4 calls; ``FeishuConnector`` adds the receiver, feeds and sink.

    Args:
        base_url: ``https://open.feishu.cn`` (or Lark's, or a sandbox).
        token: Credential source (``FeishuTenantToken`` in production).
        **http: Options of ``HttpConnector`` (timeout, limits, retry, budget, transport, sleep).
    """

    system: ClassVar[str] = "feishu"

    def __init__(self, base_url: str, *, token: TokenProvider | None, **http: Any) -> None:
        headers = {"Accept": "application/json", **http.pop("headers", {})}
        super().__init__(base_url, token=token, headers=headers, **http)

    @staticmethod
    def tenant_token(base_url: str, app_id: str, **kwargs: Any) -> FeishuTenantToken:
        """The tenant_access_token provider of an app (``app_secret=`` is required)."""
        return FeishuAppToken(base_url, app_id, **kwargs)

    def operation_of(self, method: str, url: str) -> str:
        """``GET /open-apis/approval/v4/instances/{id}``: the API's path, codes and ids left out."""
        parts = httpx.URL(url).path.split("/")
        shown = [
            "{id}" if index and parts[index - 1] in _ID_AFTER and part else part
            for index, part in enumerate(parts)
        ]
        return f"{method} {'/'.join(shown)}"

    # -- the code table ------------------------------------------------------------------

    def is_token_rejected(self, response: httpx.Response) -> bool:
        """Refresh once on a token code (Feishu answers them with HTTP 400) or a 401."""
        code, _ = feishu_code(response)
        return code in TOKEN_CODES or response.status_code == 401

    def classify(self, response: httpx.Response) -> ConnectorError | None:
        """Feishu's code table (module docstring); the HTTP status table for non-JSON answers."""
        code, msg = feishu_code(response)
        status = response.status_code
        if code is None:
            if status < 400:
                return None
            return super().classify(response)
        if code == 0 and status < 400:
            return None
        text = f"feishu: {response.request.method} answered {status} (code {code}: {msg})"
        if code in TOKEN_CODES:
            return AuthError(text, system=self.system, status_code=status)
        if code == RATE_LIMITED or status == 429:
            return RateLimited(
                text, retry_after=_retry_after(response), system=self.system, status_code=status
            )
        if code == SERVER_BUSY or status == 408 or status >= 500:
            return TransientError(text, system=self.system, status_code=status)
        if status in (401, 403):
            return AuthError(text, system=self.system, status_code=status)
        return FeishuRejected(text, code=code, system=self.system, status_code=status)

    # -- calls ---------------------------------------------------------------------------

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
    ) -> dict[str, Any]:
        """Send one Open Platform call and return its ``data`` (``{}`` when absent).

        Raises:
            AuthError: The token was refused after one refresh, or the app lacks a scope.
            TransientError: Still failing after the retry policy (RateLimited for 99991400).
            FeishuRejected: Feishu refused the request (its ``code`` says why).
        """
        content = orjson.dumps(json) if json is not None else None
        response = await self.request(
            method,
            path,
            params=params,
            content=content,
            headers=_JSON if content is not None else None,
            idempotent=idempotent,
        )
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise TransientError(
                f"feishu: {method} answered non-JSON", system=self.system
            ) from None
        data = body.get("data") if isinstance(body, dict) else None
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise TransientError("feishu: unexpected answer shape", system=self.system)
        return data

    async def ping(self, approval_code: str) -> None:
        """One cheap authenticated call: read an approval definition; raises on failure."""
        await self.get_approval(approval_code)

    async def get_approval(self, approval_code: str) -> dict[str, Any]:
        """``GET /approvals/{approval_code}``: the definition (``form`` is a JSON string)."""
        return await self.call("GET", f"{APPROVAL_V4}/approvals/{_path(approval_code)}")

    async def subscribe(self, approval_code: str) -> bool:
        """Subscribe the app to a definition's events; False when it already was (no error)."""
        try:
            await self.call(
                "POST", f"{APPROVAL_V4}/approvals/{_path(approval_code)}/subscribe", json={},
                idempotent=True,
            )  # fmt: skip
        except FeishuRejected as exc:
            if exc.code == SUBSCRIPTION_EXISTS:
                return False
            raise
        return True

    async def get_instance(self, instance_code: str) -> dict[str, Any]:
        """``GET /instances/{instance_code}``: the raw instance detail."""
        return await self.call("GET", f"{APPROVAL_V4}/instances/{_path(instance_code)}")

    async def get_user(self, user_id: str, *, id_type: str = "user_id") -> FeishuUser:
        """``GET /contact/v3/users/{user_id}``: one person of the directory.

        Args:
            user_id: The id, of the kind ``id_type`` names.
            id_type: ``user_id``, ``open_id`` or ``union_id``; also the kind of
                ``leader_user_id`` in the answer.

        Raises:
            ValueError: ``id_type`` is none of the three.
            FeishuRejected: 41050 (``USER_NOT_VISIBLE``) for a user outside the app's contact
                scope or no user at all.
            SchemaError: The answer carries no readable user.
        """
        if id_type not in USER_ID_TYPES:
            raise ValueError(f"id_type must be one of {USER_ID_TYPES}, not {id_type!r}")
        data = await self.call(
            "GET", f"{CONTACT_V3}/users/{_path(user_id)}", params={"user_id_type": id_type}
        )
        return parse_user(data)

    async def list_instance_codes(
        self, approval_code: str, start_ms: int, end_ms: int, *, page_size: int = 100
    ) -> AsyncIterator[list[str]]:
        """Yield pages of codes of instances started in ``[start_ms, end_ms]``, following tokens."""
        params: dict[str, Any] = {
            "approval_code": approval_code,
            "start_time": str(start_ms),
            "end_time": str(end_ms),
            "page_size": page_size,
        }
        while True:
            data = await self.call("GET", f"{APPROVAL_V4}/instances", params=params)
            codes = data.get("instance_code_list") or []
            yield [code for code in codes if isinstance(code, str) and code]
            token = data.get("page_token")
            if not data.get("has_more") or not isinstance(token, str) or not token:
                return
            params = {**params, "page_token": token}


# Path segments after these are an approval or instance code or a user id: data, not the API.
_ID_AFTER = frozenset({"approvals", "instances", "users"})


def _path(value: str) -> str:
    if not value:
        raise RejectedError("feishu: empty code in a path", system="feishu")
    return quote(value, safe="")
