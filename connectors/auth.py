"""Token providers: Salesforce OAuth client credentials, Odoo API key, Feishu tenant_access_token.

Each provider caches its token with an expiry, refreshes ahead of it, and is single-flight:
concurrent callers that find the token stale share one refresh (and its failure).
"""

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

import httpx
from pydantic import SecretStr

from bizbus.connectors.errors import AuthError, RateLimited, RejectedError
from bizbus.connectors.status import error_for_response, error_for_transport

__all__ = [
    "AccessToken",
    "FeishuTenantToken",
    "OdooApiKey",
    "RefreshingToken",
    "SalesforceClientCredentials",
    "TokenProvider",
]


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A credential ready to put on a request.

    Attributes:
        value: The token (never shown in ``repr``).
        expires_at: Monotonic-clock time it expires, or None when unknown (refresh on 401).
        instance_url: Base URL the token is valid for, when the issuer says (Salesforce).
    """

    value: str = field(repr=False)
    expires_at: float | None = None
    instance_url: str | None = None


@runtime_checkable
class TokenProvider(Protocol):
    """What the HTTP base needs from a credential source."""

    refreshable: ClassVar[bool]

    async def get(self, client: httpx.AsyncClient) -> AccessToken:
        """Return a valid token, fetching one with ``client`` if needed."""
        ...

    def invalidate(self, token: AccessToken) -> None:
        """Forget ``token`` because the system refused it; the next ``get`` refreshes."""
        ...


class RefreshingToken(ABC):
    """Cache + expiry + single-flight refresh; subclasses implement ``fetch``.

    Args:
        system: Short system name used in error messages.
        refresh_margin: Refresh this many seconds before expiry (at most half the lifetime).
        clock: Monotonic clock (injectable for tests).
    """

    refreshable: ClassVar[bool] = True

    def __init__(
        self,
        system: str,
        *,
        refresh_margin: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.system = system
        self.refresh_margin = refresh_margin
        self._clock = clock
        self._current: AccessToken | None = None
        self._issued_at = 0.0
        self._inflight: asyncio.Future[AccessToken] | None = None

    def _fresh(self, token: AccessToken) -> bool:
        if token.expires_at is None:
            return True
        margin = min(self.refresh_margin, (token.expires_at - self._issued_at) / 2)
        return self._clock() < token.expires_at - margin

    async def get(self, client: httpx.AsyncClient) -> AccessToken:
        """Return the cached token, or join (or start) the one refresh in flight."""
        current = self._current
        if current is not None and self._fresh(current):
            return current
        if self._inflight is None:
            self._inflight = asyncio.ensure_future(self._refresh(client))
            self._inflight.add_done_callback(self._clear_inflight)
        # shield: one caller being cancelled must not cancel the refresh the others await.
        return await asyncio.shield(self._inflight)

    def _clear_inflight(self, _: "asyncio.Future[AccessToken]") -> None:
        self._inflight = None

    async def _refresh(self, client: httpx.AsyncClient) -> AccessToken:
        issued_at = self._clock()
        token = await self.fetch(client)
        self._issued_at = issued_at
        self._current = token
        return token

    def invalidate(self, token: AccessToken) -> None:
        """Forget ``token`` if it is still the cached one (a newer token is kept)."""
        if self._current is not None and self._current.value == token.value:
            self._current = None

    @abstractmethod
    async def fetch(self, client: httpx.AsyncClient) -> AccessToken:
        """Ask the issuer for a new token.

        Raises:
            AuthError: The credentials were refused.
            TransientError: The issuer could not be reached or failed; the caller may retry.
        """

    async def _post(self, client: httpx.AsyncClient, url: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = await client.post(url, **kwargs)
        except httpx.TransportError as exc:
            raise error_for_transport(exc, system=self.system) from exc
        error = error_for_response(response, system=self.system, detail=_oauth_error_code)
        if isinstance(error, RejectedError):
            # Token endpoints answer 400 for bad client credentials (OAuth 2.0 §5.2).
            error = AuthError(str(error), system=self.system, status_code=error.status_code)
        if error is not None:
            raise error
        try:
            body = response.json()
        except ValueError as exc:
            raise AuthError(f"{self.system}: token endpoint answered non-JSON") from exc
        if not isinstance(body, dict):
            raise AuthError(f"{self.system}: token endpoint answered an unexpected shape")
        return body

    def _expiry(self, seconds: object) -> float | None:
        if isinstance(seconds, int | float) and not isinstance(seconds, bool) and seconds > 0:
            return self._clock() + float(seconds)
        return None


def _oauth_error_code(response: httpx.Response) -> str | None:
    # The OAuth "error" field is a fixed code (invalid_client, ...); the description is not shown.
    try:
        body = response.json()
    except ValueError:
        return None
    code = body.get("error") if isinstance(body, dict) else None
    return code if isinstance(code, str) and len(code) <= 64 else None


class SalesforceClientCredentials(RefreshingToken):
    """Salesforce OAuth 2.0 client credentials flow (connected app + run-as integration user).

    ``POST {token_url}`` with ``grant_type=client_credentials`` answers ``access_token`` and
    ``instance_url``; Salesforce gives no expiry, so the token lives until a 401 (or ``lifetime``).

    Args:
        token_url: ``https://<MyDomain>.my.salesforce.com/services/oauth2/token``.
        client_id: The connected app's consumer key.
        client_secret: The connected app's consumer secret.
        lifetime: Seconds to trust a token without a 401, or None (session timeout of the org).
        clock: Monotonic clock (injectable for tests).
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        *,
        client_secret: SecretStr,
        lifetime: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__("salesforce", clock=clock)
        self.token_url = token_url
        self.client_id = client_id
        self._client_secret = client_secret
        self.lifetime = lifetime

    async def fetch(self, client: httpx.AsyncClient) -> AccessToken:
        """Run the client credentials grant."""
        body = await self._post(
            client,
            self.token_url,
            data={
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_secret": self._client_secret.get_secret_value(),
            },
            headers={"Accept": "application/json"},
        )
        value = body.get("access_token")
        if not isinstance(value, str) or not value:
            raise AuthError("salesforce: token response has no access_token")
        instance_url = body.get("instance_url")
        return AccessToken(
            value=value,
            expires_at=self._expiry(body.get("expires_in", self.lifetime)),
            instance_url=instance_url if isinstance(instance_url, str) else None,
        )


class FeishuTenantToken(RefreshingToken):
    """Feishu/Lark ``tenant_access_token`` for a self-built app (about 2 h, refreshed early).

    ``POST {base_url}/open-apis/auth/v3/tenant_access_token/internal`` with ``app_id`` and
    ``app_secret`` answers ``{"code": 0, "tenant_access_token": ..., "expire": <seconds>}``.
    Feishu issues a new token once fewer than 30 minutes remain, hence the 30-minute margin.

    Args:
        base_url: ``https://open.feishu.cn`` or ``https://open.larksuite.com``.
        app_id: The app's App ID (``cli_...``).
        app_secret: The app's App Secret.
        refresh_margin: Seconds before expiry to refresh.
        clock: Monotonic clock (injectable for tests).
    """

    PATH: ClassVar[str] = "/open-apis/auth/v3/tenant_access_token/internal"
    RATE_LIMITED_CODE: ClassVar[int] = 99991400

    def __init__(
        self,
        base_url: str,
        app_id: str,
        *,
        app_secret: SecretStr,
        refresh_margin: float = 1800.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__("feishu", refresh_margin=refresh_margin, clock=clock)
        self.url = base_url.rstrip("/") + self.PATH
        self.app_id = app_id
        self._app_secret = app_secret

    async def fetch(self, client: httpx.AsyncClient) -> AccessToken:
        """Fetch a tenant_access_token; a non-zero ``code`` is an AuthError (or RateLimited)."""
        body = await self._post(
            client,
            self.url,
            json={"app_id": self.app_id, "app_secret": self._app_secret.get_secret_value()},
        )
        code = body.get("code")
        if code == self.RATE_LIMITED_CODE:
            raise RateLimited("feishu: token endpoint rate limited", system="feishu")
        value = body.get("tenant_access_token")
        if code != 0 or not isinstance(value, str) or not value:
            raise AuthError(f"feishu: token request refused (code {code})", system="feishu")
        return AccessToken(value=value, expires_at=self._expiry(body.get("expire")))


class OdooApiKey:
    """Odoo credentials: an API key (or, for legacy ``execute_kw`` only, the user's password).

    Nothing is fetched: ``execute_kw`` sends ``db``/``uid``/secret in the body, JSON-2 (19+) sends
    ``Authorization: bearer <api key>``. A refused key cannot be refreshed, so a 401 is final.

    Args:
        db: Database name.
        login: User login (to resolve the uid with ``common.authenticate``).
        secret: The API key or password.
    """

    refreshable: ClassVar[bool] = False

    def __init__(self, db: str, login: str, *, secret: SecretStr) -> None:
        self.db = db
        self.login = login
        self._secret = secret

    async def get(self, client: httpx.AsyncClient) -> AccessToken:
        """Return the key as a token that never expires."""
        return AccessToken(value=self._secret.get_secret_value())

    def invalidate(self, token: AccessToken) -> None:
        """Nothing to forget: the key is fixed until an operator rotates it."""
