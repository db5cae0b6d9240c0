"""DingTalk open platform calls (workflow 1.0, oauth2 1.0, legacy user get) on one pooled client.

Auth: the app's access token (``POST /v1.0/oauth2/accessToken`` {appKey, appSecret} →
{accessToken, expireIn}), sent as ``x-acs-dingtalk-access-token`` (new API) or as the
``access_token`` query parameter (legacy ``oapi`` API), refreshed once when refused.
New-API errors are HTTP 4xx/5xx with ``{"code", "message", "requestid"}``; legacy answers are
HTTP 200 with a non-zero ``errcode``. Limit: 20 calls/s per app and API by default.

| answer                                               | error                          |
|------------------------------------------------------|--------------------------------|
| 401, code InvalidAuthentication, errcode 40014/40001 | AuthError (after one refresh)  |
| 429, code ...QpsLimit..., errcode 88/90018            | RateLimited                    |
| 408/5xx, code systemError, errcode -1                 | TransientError                 |
| other 4xx codes (aflowProcessInstNotExist, ...)       | DingTalkRejected (RejectedError) |
"""

import re
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, ClassVar

import httpx
import orjson
from pydantic import SecretStr

from bizbus.connectors.auth import AccessToken, RefreshingToken, TokenProvider
from bizbus.connectors.errors import (
    AuthError,
    ConnectorError,
    RateLimited,
    RejectedError,
    TransientError,
)
from bizbus.connectors.httpbase import HttpConnector
from bizbus.connectors.status import error_for_transport, parse_retry_after

__all__ = [
    "INSTANCE_NOT_FOUND",
    "USER_NOT_FOUND",
    "WORKFLOW",
    "DingTalkAppToken",
    "DingTalkClient",
    "DingTalkRejected",
    "dingtalk_code",
]

WORKFLOW = "/v1.0/workflow"
INSTANCE_NOT_FOUND = "aflowProcessInstNotExist"
USER_NOT_FOUND = "60121"
_TOKEN_CODES = frozenset({"InvalidAuthentication", "40014", "40001", "42001"})
_RATE_CODES = frozenset({"88", "90018", "90002", "Throttling"})
_JSON = {"Content-Type": "application/json; charset=utf-8"}
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|\S+@\S+")
_MSG_MAX = 120


class DingTalkRejected(RejectedError):
    """DingTalk refused the request with a business code (``code``), e.g. an unknown instance."""

    def __init__(
        self, message: str, *, code: str, system: str = "dingtalk", status_code: int | None = None
    ) -> None:
        super().__init__(message, system=system, status_code=status_code)
        self.code = code


def _body(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None
    return body if isinstance(body, dict) else None


def dingtalk_code(response: httpx.Response) -> tuple[str | None, str]:
    """The error code and a safe message of an answer; ``(None, "")`` for success or non-JSON.

    A legacy answer's ``errcode`` is returned as text (``"0"`` is success, so None). Quoted text
    and e-mail addresses are cut from the message (they can carry personal data).
    """
    body = _body(response)
    if body is None:
        return None, ""
    code: Any = body.get("code")
    message: Any = body.get("message")
    if "errcode" in body:
        code, message = body.get("errcode"), body.get("errmsg")
        if code == 0:
            return None, ""
    if code is None or isinstance(code, bool):
        return None, ""
    text = _QUOTED.sub("'…'", message)[:_MSG_MAX] if isinstance(message, str) else ""
    return str(code), text


class DingTalkAppToken(RefreshingToken):
    """An internal app's access token (7200 s; refreshed 10 minutes ahead).

    Args:
        base_url: ``https://api.dingtalk.com`` (or a sandbox).
        app_key: The app's AppKey.
        app_secret: The app's AppSecret.
    """

    PATH: ClassVar[str] = "/v1.0/oauth2/accessToken"

    def __init__(self, base_url: str, app_key: str, *, app_secret: SecretStr) -> None:
        super().__init__("dingtalk", refresh_margin=600.0)
        self.url = base_url.rstrip("/") + self.PATH
        self.app_key = app_key
        self._app_secret = app_secret

    async def fetch(self, client: httpx.AsyncClient) -> AccessToken:
        """Fetch a token; a refusal names the settings to check."""
        payload = {"appKey": self.app_key, "appSecret": self._app_secret.get_secret_value()}
        try:
            response = await client.post(self.url, json=payload)
        except httpx.TransportError as exc:
            raise error_for_transport(exc, system=self.system) from exc
        code, message = dingtalk_code(response)
        status = response.status_code
        if status == 429 or code in _RATE_CODES:
            raise RateLimited("dingtalk: token endpoint rate limited", system=self.system)
        if status >= 500 or status == 408:
            raise TransientError(f"dingtalk: token endpoint answered {status}", system=self.system)
        body = _body(response) or {}
        value = body.get("accessToken")
        if status >= 400 or not isinstance(value, str) or not value:
            raise AuthError(
                f"dingtalk: token request refused ({status}, {code}: {message}); check "
                "BIZBUS_OA_APP_KEY and BIZBUS_OA_APP_SECRET",
                system=self.system,
                status_code=status,
            )
        return AccessToken(value=value, expires_at=self._expiry(body.get("expireIn")))


class DingTalkClient(HttpConnector):
    """Low-level workflow calls; ``DingTalkConnector`` adds the receiver and the feed.

    Args:
        base_url: ``https://api.dingtalk.com`` (or a sandbox).
        legacy_base_url: ``https://oapi.dingtalk.com`` (or a sandbox), for user lookups.
        token: Credential source (``DingTalkAppToken`` in production).
        **http: Options of ``HttpConnector`` (timeout, limits, retry, budget, transport, sleep).
    """

    system: ClassVar[str] = "dingtalk"

    def __init__(
        self, base_url: str, *, legacy_base_url: str, token: TokenProvider | None, **http: Any
    ) -> None:
        headers = {"Accept": "application/json", **http.pop("headers", {})}
        super().__init__(base_url, token=token, headers=headers, **http)
        self.legacy_base_url = legacy_base_url.rstrip("/")

    def auth_headers(self, token: AccessToken) -> dict[str, str]:
        """The new API's token header."""
        return {"x-acs-dingtalk-access-token": token.value}

    def operation_of(self, method: str, url: str) -> str:
        """``GET /v1.0/workflow/processInstances``: the API's path (ids are in the query)."""
        return f"{method} {httpx.URL(url).path}"

    def is_token_rejected(self, response: httpx.Response) -> bool:
        """Refresh once on 401 or a token code (legacy answers say so with HTTP 200)."""
        code, _ = dingtalk_code(response)
        return response.status_code == 401 or code in _TOKEN_CODES

    def classify(self, response: httpx.Response) -> ConnectorError | None:
        """DingTalk's code table (module docstring); the HTTP status table for non-JSON answers."""
        code, message = dingtalk_code(response)
        status = response.status_code
        if code is None:
            return None if status < 400 else super().classify(response)
        text = f"dingtalk: {response.request.method} answered {status} ({code}: {message})"
        if code in _TOKEN_CODES or status == 401:
            return AuthError(text, system=self.system, status_code=status)
        if status == 429 or code in _RATE_CODES or "QpsLimit" in code:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            return RateLimited(
                text, retry_after=retry_after, system=self.system, status_code=status
            )
        if status == 408 or status >= 500 or code in ("systemError", "-1"):
            return TransientError(text, system=self.system, status_code=status)
        if status == 403:
            return AuthError(text, system=self.system, status_code=status)
        return DingTalkRejected(text, code=code, system=self.system, status_code=status)

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
    ) -> dict[str, Any]:
        """Send one call and return its JSON body.

        Raises:
            AuthError: The token was refused after one refresh, or the app lacks a permission.
            TransientError: Still failing after the retry policy (RateLimited when throttled).
            DingTalkRejected: DingTalk refused the request (its ``code`` says why).
        """
        content = orjson.dumps(json) if json is not None else None
        response = await self.request(
            method, path, params=params, content=content,
            headers=_JSON if content is not None else None, idempotent=idempotent,
        )  # fmt: skip
        body = _body(response)
        if body is None:
            raise TransientError(f"dingtalk: {method} answered non-JSON", system=self.system)
        return body

    async def get_instance(self, instance_id: str) -> dict[str, Any]:
        """``GET /v1.0/workflow/processInstances?processInstanceId=``: the raw ``result``."""
        if not instance_id:
            raise RejectedError("dingtalk: empty process instance id", system=self.system)
        body = await self.call(
            "GET", f"{WORKFLOW}/processInstances", params={"processInstanceId": instance_id}
        )
        result = body.get("result")
        if not isinstance(result, dict):
            raise TransientError("dingtalk: instance answer has no result", system=self.system)
        return result

    async def start_instance(
        self,
        process_code: str,
        originator_user_id: str,
        form_values: Sequence[Mapping[str, Any]],
        *,
        dept_id: int | None = None,
    ) -> str:
        """``POST /v1.0/workflow/processInstances``: file an instance; returns its id.

        Not idempotent at DingTalk (no request key): never resent once it may have arrived.
        """
        payload: dict[str, Any] = {
            "processCode": process_code,
            "originatorUserId": originator_user_id,
            "formComponentValues": list(form_values),
        }
        if dept_id is not None:
            payload["deptId"] = dept_id
        body = await self.call(
            "POST", f"{WORKFLOW}/processInstances", json=payload, idempotent=False
        )
        instance_id = body.get("instanceId")
        if not isinstance(instance_id, str) or not instance_id:
            raise TransientError("dingtalk: create answered no instanceId", system=self.system)
        return instance_id

    async def list_instance_ids(
        self, process_code: str, start_ms: int, end_ms: int, *, page_size: int = 20
    ) -> AsyncIterator[list[str]]:
        """Yield pages of ids of instances started in ``[start_ms, end_ms]``, following tokens."""
        payload: dict[str, Any] = {
            "processCode": process_code,
            "startTime": start_ms,
            "endTime": end_ms,
            "nextToken": 0,
            "maxResults": page_size,
        }
        while True:
            body = await self.call(
                "POST", f"{WORKFLOW}/processes/instanceIds/query", json=payload, idempotent=True
            )
            result = body.get("result")
            result = result if isinstance(result, dict) else {}
            ids = result.get("list") or []
            yield [i for i in ids if isinstance(i, str) and i]
            token = result.get("nextToken")
            if token in (None, "", 0, "0"):
                return
            payload = {**payload, "nextToken": int(token)}

    async def get_user(self, user_id: str) -> dict[str, Any]:
        """Legacy ``POST /topapi/v2/user/get``: the ``result`` of one person (userid, name, ...).

        Raises:
            DingTalkRejected: 60121 (``USER_NOT_FOUND``) for no such user.
        """
        if not user_id:
            raise RejectedError("dingtalk: empty user id", system=self.system)
        url = f"{self.legacy_base_url}/topapi/v2/user/get"
        content = orjson.dumps({"userid": user_id, "language": "zh_CN"})
        for attempt in (1, 2):
            token = await self.token.get(self.client) if self.token is not None else None
            params = {"access_token": token.value} if token is not None else None
            try:
                response = await self.request(
                    "POST", url, params=params, content=content, headers=_JSON,
                    idempotent=True, operation="POST /topapi/v2/user/get",
                )  # fmt: skip
            except AuthError:
                # The token rides in the query, so the base's one resend reused it: the base
                # dropped it, and one more call carries the fresh one.
                if attempt == 2 or self.token is None:
                    raise
                continue
            break
        body = _body(response) or {}
        result = body.get("result")
        if not isinstance(result, dict):
            raise TransientError("dingtalk: user answer has no result", system=self.system)
        return result
