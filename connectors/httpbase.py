"""HTTP connector base: one pooled ``httpx.AsyncClient``, explicit limits, bounded retries.

Retries (tenacity, by ``connectors.retry.RetryPolicy``): TransientError only, stop after N
attempts or a total delay, jittered exponential backoff, 429 ``Retry-After`` honoured; one token
refresh on 401, then AuthError. ``connectors.retry`` states the total budget per event.
Each exchange with the system (every try, so every call its API allowance counts) is reported
to the optional ``observer`` with a bounded operation name, its duration and its outcome.
Each request carries the caller's W3C trace context (``traceparent``) when a span is current.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ClassVar, Self

import httpx
from opentelemetry import propagate
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from bizbus.connectors.auth import AccessToken, TokenProvider
from bizbus.connectors.errors import ConnectorError, IntegrationError, RateLimited, TransientError
from bizbus.connectors.quota import RateBudget
from bizbus.connectors.retry import RetryPolicy
from bizbus.connectors.status import error_for_response, error_for_transport

__all__ = ["CallObserver", "HttpConnector", "outcome_of"]

logger = logging.getLogger(__name__)

_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# Failures that prove the request never left this process: safe to retry even a POST.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


CallObserver = Callable[[str, float, str], None]
"""Hears each exchange: operation (e.g. ``sale.order.write``), seconds, outcome (``outcome_of``)."""


def outcome_of(status: int | None) -> str:
    """Return an exchange's outcome label: ``2xx``..``5xx``, ``429``, or ``error`` (no answer)."""
    if status is None:
        return "error"
    return "429" if status == 429 else f"{status // 100}xx"


@dataclass(slots=True)
class _Call:
    operation: str
    refreshed: bool = False
    attempts: int = 0


class HttpConnector:
    """Base of every HTTP dialect; subclasses set ``system`` and override the hooks.

    Hooks: ``auth_headers`` (how a token goes on the request), ``is_token_rejected`` (when to
    refresh once), ``classify`` (status → error table), ``error_detail`` (a safe vendor code).

    Args:
        base_url: Root URL of the system's API; ``request`` takes paths relative to it.
        token: Credential source, or None for unauthenticated calls.
        timeout: Per-request timeouts; defaults to ``DEFAULT_TIMEOUT``.
        limits: Connection pool limits; defaults to ``DEFAULT_LIMITS``.
        retry: Retry policy; defaults to ``RetryPolicy()``.
        budget: Rate budget shared by all calls of this connector, or None.
        headers: Headers sent on every request (e.g. ``User-Agent``).
        transport: An httpx transport (tests pass ``httpx.MockTransport``).
        sleep: Async sleep used between retries (tests pass a recorder).
        observer: Hears every exchange with the system (the worker's metrics), or None.
    """

    system: ClassVar[str] = "http"
    DEFAULT_TIMEOUT: ClassVar[httpx.Timeout] = httpx.Timeout(10.0, connect=5.0, pool=5.0)
    DEFAULT_LIMITS: ClassVar[httpx.Limits] = httpx.Limits(
        max_connections=64, max_keepalive_connections=32, keepalive_expiry=30.0
    )

    def __init__(
        self,
        base_url: str,
        *,
        token: TokenProvider | None = None,
        timeout: httpx.Timeout | None = None,
        limits: httpx.Limits | None = None,
        retry: RetryPolicy | None = None,
        budget: RateBudget | None = None,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        observer: CallObserver | None = None,
    ) -> None:
        self.token = token
        self.observer = observer
        self.retry = retry or RetryPolicy()
        self.budget = budget
        self.calls = 0  # requests sent (each attempt, tokens aside): what the vendor counts
        self._sleep = sleep
        self.client = httpx.AsyncClient(
            base_url=base_url,
            timeout=timeout or self.DEFAULT_TIMEOUT,
            limits=limits or self.DEFAULT_LIMITS,
            headers=dict(headers or {}),
            transport=transport,
            follow_redirects=False,
        )

    async def __aenter__(self) -> Self:
        await self.client.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.client.aclose()

    # -- hooks ---------------------------------------------------------------------------

    def auth_headers(self, token: AccessToken) -> dict[str, str]:
        """Headers that carry ``token``; the default is a bearer token."""
        return {"Authorization": f"Bearer {token.value}"}

    def is_token_rejected(self, response: httpx.Response) -> bool:
        """True when the response means "token expired/invalid" (refresh once and resend)."""
        return response.status_code == 401

    def error_detail(self, response: httpx.Response) -> str | None:
        """A short, safe vendor error code for messages (never free text); default none."""
        return None

    def operation_of(self, method: str, url: str) -> str:
        """A bounded name of a call for metrics (never ids or values); the default: the method."""
        return method

    def classify(self, response: httpx.Response) -> ConnectorError | None:
        """Status-code → error table (see ``connectors.status.error_for_response``)."""
        return error_for_response(response, system=self.system, detail=self.error_detail)

    # -- calls ---------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        operation: str | None = None,
    ) -> httpx.Response:
        """Send one request with auth, budget, error table and bounded retries.

        Args:
            method: HTTP method.
            url: Path relative to ``base_url``, or an absolute URL.
            params: Query parameters.
            json: JSON body.
            data: Form body.
            content: Raw body.
            headers: Extra headers for this request.
            idempotent: May a request that reached the server be resent? Defaults to True for
                GET/HEAD/OPTIONS/PUT/DELETE; pass True for upserts and keyed POSTs.
            operation: Its name for the observer; ``operation_of(method, url)`` when None.

        Returns:
            The successful (< 400) response, body read.

        Raises:
            TransientError: Still failing after the retry policy gave up (RateLimited for 429).
            AuthError: Refused even after one token refresh.
            RejectedError: Any other 4xx.
        """
        method = method.upper()
        safe = idempotent if idempotent is not None else method in _IDEMPOTENT_METHODS
        kwargs: dict[str, Any] = {
            "params": params,
            "json": json,
            "data": data,
            "content": content,
            "headers": headers,
        }
        call = _Call(operation or self.operation_of(method, url))
        started = time.monotonic()
        retrying = AsyncRetrying(
            stop=self._stop,
            wait=self._wait,
            retry=retry_if_exception(lambda exc: _retriable(exc, idempotent=safe)),
            sleep=self._sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    call.attempts += 1
                    return await self._attempt(method, url, kwargs, call)
        except TransientError as exc:
            if call.attempts > 1:
                raise _gave_up(exc, call.attempts, time.monotonic() - started) from exc
            raise
        raise AssertionError("unreachable: tenacity either returns or reraises")

    async def _attempt(
        self, method: str, url: str, kwargs: dict[str, Any], call: _Call
    ) -> httpx.Response:
        token = await self.token.get(self.client) if self.token is not None else None
        response = await self._send(method, url, token, kwargs, call)
        if (
            token is not None
            and self.token is not None
            and self.token.refreshable
            and not call.refreshed
            and self.is_token_rejected(response)
        ):
            # Once per call, not per attempt: a refused fresh token is an AuthError, no storm.
            call.refreshed = True
            self.token.invalidate(token)
            token = await self.token.get(self.client)
            response = await self._send(method, url, token, kwargs, call)
        error = self.classify(response)
        if error is None:
            return response
        if isinstance(error, RateLimited) and error.retry_after and self.budget is not None:
            self.budget.pause(error.retry_after)
        raise error

    async def _send(
        self,
        method: str,
        url: str,
        token: AccessToken | None,
        kwargs: dict[str, Any],
        call: _Call,
    ) -> httpx.Response:
        if self.budget is not None:
            await self.budget.acquire()
        headers = dict(self.auth_headers(token)) if token is not None else {}
        headers.update(kwargs["headers"] or {})
        propagate.inject(headers)  # nothing without a current span
        self.calls += 1
        sent = time.monotonic()
        status: int | None = None
        try:
            response = await self.client.request(method, url, **{**kwargs, "headers": headers})
            status = response.status_code
            return response
        except httpx.TransportError as exc:
            raise error_for_transport(exc, system=self.system) from exc
        finally:
            if self.observer is not None:
                self.observer(call.operation, time.monotonic() - sent, outcome_of(status))

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        return self.retry.delay(state.attempt_number, exc)

    def _stop(self, state: RetryCallState) -> bool:
        elapsed = state.seconds_since_start or 0.0
        return self.retry.gives_up(state.attempt_number, elapsed=elapsed, wait=state.upcoming_sleep)

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        logger.warning(
            "%s: attempt %d failed (%s), retrying in %.2f s",
            self.system,
            state.attempt_number,
            type(exc).__name__,
            state.upcoming_sleep,
        )


def _retriable(exc: BaseException, *, idempotent: bool) -> bool:
    if not isinstance(exc, IntegrationError) or not exc.retriable:
        return False
    # 429 and connect-phase failures mean the server did not act on the request.
    return idempotent or isinstance(exc, RateLimited) or isinstance(exc.__cause__, _NOT_SENT)


def _gave_up(exc: TransientError, attempts: int, elapsed: float) -> TransientError:
    message = f"{exc} - gave up after {attempts} attempts in {elapsed:.1f} s"
    if isinstance(exc, RateLimited):
        return RateLimited(
            message, retry_after=exc.retry_after, system=exc.system, status_code=exc.status_code
        )
    return TransientError(message, system=exc.system, status_code=exc.status_code)
