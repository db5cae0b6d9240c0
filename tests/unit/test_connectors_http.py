"""HttpConnector: status table, bounded retries, Retry-After, single token refresh."""

import asyncio
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bizbus.connectors.auth import AccessToken, OdooApiKey, RefreshingToken
from bizbus.connectors.errors import AuthError, RateLimited, RejectedError, TransientError
from bizbus.connectors.httpbase import HttpConnector
from bizbus.connectors.quota import RateBudget
from bizbus.connectors.retry import RetryPolicy
from bizbus.connectors.status import error_for_response, parse_retry_after

Handler = (
    Callable[[httpx.Request], httpx.Response]
    | Callable[[httpx.Request], Coroutine[Any, Any, httpx.Response]]
)


class Sleeps:
    """Records the waits instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


class Scripted:
    """Answers requests from a list of responses (the last one repeats)."""

    def __init__(self, *responses: httpx.Response) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        index = min(len(self.requests), len(self.responses)) - 1
        return self.responses[index]


class CountingToken(RefreshingToken):
    def __init__(self) -> None:
        super().__init__("test")
        self.fetches = 0

    async def fetch(self, client: httpx.AsyncClient) -> AccessToken:
        self.fetches += 1
        await asyncio.sleep(0)
        return AccessToken(value=f"tok-{self.fetches}")


def connector(handler: Handler, *, sleeps: Sleeps | None = None, **kwargs: object) -> HttpConnector:
    return HttpConnector(
        "https://api.example.test",
        transport=httpx.MockTransport(handler),
        sleep=sleeps or Sleeps(),
        **kwargs,  # type: ignore[arg-type]
    )


async def test_503_then_200_is_retried_once() -> None:
    handler = Scripted(httpx.Response(503), httpx.Response(200, json={"ok": True}))
    sleeps = Sleeps()
    async with connector(handler, sleeps=sleeps) as api:
        response = await api.request("GET", "/things")
    assert response.json() == {"ok": True}
    assert len(handler.requests) == 2
    assert len(sleeps.waits) == 1


async def test_429_waits_for_retry_after_seconds() -> None:
    handler = Scripted(
        httpx.Response(429, headers={"Retry-After": "2"}), httpx.Response(200, json={})
    )
    sleeps = Sleeps()
    async with connector(handler, sleeps=sleeps) as api:
        await api.request("POST", "/things", json={}, idempotent=False)
    assert sleeps.waits == [2.0]
    assert len(handler.requests) == 2


async def test_429_longer_than_max_delay_raises_rate_limited_without_waiting() -> None:
    handler = Scripted(httpx.Response(429, headers={"Retry-After": "3600"}))
    sleeps = Sleeps()
    async with connector(handler, sleeps=sleeps, retry=RetryPolicy(max_delay=30)) as api:
        with pytest.raises(RateLimited) as caught:
            await api.request("GET", "/things")
    assert caught.value.retry_after == 3600
    assert sleeps.waits == []
    assert len(handler.requests) == 1


async def test_outage_ends_after_bounded_attempts_with_clear_error() -> None:
    handler = Scripted(httpx.Response(503))
    sleeps = Sleeps()
    policy = RetryPolicy(attempts=3, max_delay=60)
    async with connector(handler, sleeps=sleeps, retry=policy) as api:
        with pytest.raises(TransientError) as caught:
            await api.request("GET", "/things")
    assert len(handler.requests) == 3
    assert len(sleeps.waits) == 2
    assert all(0 < wait <= policy.max_backoff + policy.jitter for wait in sleeps.waits)
    assert "503" in str(caught.value)
    assert "gave up after 3 attempts" in str(caught.value)
    assert caught.value.status_code == 503


async def test_connect_error_is_transient_and_retried_even_for_post() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(201, json={"id": "1"})

    async with connector(handler) as api:
        response = await api.request("POST", "/things", json={})
    assert response.status_code == 201
    assert calls == 2


async def test_5xx_on_non_idempotent_post_is_not_resent() -> None:
    handler = Scripted(httpx.Response(502), httpx.Response(201))
    async with connector(handler) as api:
        with pytest.raises(TransientError):
            await api.request("POST", "/things", json={})
    assert len(handler.requests) == 1


async def test_read_timeout_is_transient() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    async with connector(handler, retry=RetryPolicy(attempts=2)) as api:
        with pytest.raises(TransientError, match="ReadTimeout"):
            await api.request("GET", "/things")


async def test_401_refreshes_token_once_then_auth_error_without_storm() -> None:
    handler = Scripted(httpx.Response(401))
    token = CountingToken()
    async with connector(handler, token=token) as api:
        with pytest.raises(AuthError):
            await api.request("GET", "/things")
    assert token.fetches == 2
    assert len(handler.requests) == 2
    assert [r.headers["Authorization"] for r in handler.requests] == [
        "Bearer tok-1",
        "Bearer tok-2",
    ]


async def test_401_with_expired_token_succeeds_after_refresh() -> None:
    handler = Scripted(httpx.Response(401), httpx.Response(200, json=[]))
    token = CountingToken()
    async with connector(handler, token=token) as api:
        response = await api.request("GET", "/things")
    assert response.status_code == 200
    assert token.fetches == 2


async def test_401_with_fixed_api_key_is_final() -> None:
    handler = Scripted(httpx.Response(401))
    key = OdooApiKey("db", "bot", secret=SecretStr("k"))
    async with connector(handler, token=key) as api:
        with pytest.raises(AuthError):
            await api.request("GET", "/things")
    assert len(handler.requests) == 1


async def test_403_is_auth_error_without_refresh() -> None:
    handler = Scripted(httpx.Response(403))
    token = CountingToken()
    async with connector(handler, token=token) as api:
        with pytest.raises(AuthError):
            await api.request("GET", "/things")
    assert token.fetches == 1


async def test_other_4xx_is_rejected_without_retry() -> None:
    handler = Scripted(httpx.Response(422, json={"error": "bad"}))
    async with connector(handler) as api:
        with pytest.raises(RejectedError) as caught:
            await api.request("PUT", "/things/1", json={})
    assert caught.value.status_code == 422
    assert len(handler.requests) == 1


async def test_error_messages_carry_no_path_query_or_token() -> None:
    handler = Scripted(httpx.Response(400))
    token = CountingToken()
    async with connector(handler, token=token) as api:
        with pytest.raises(RejectedError) as caught:
            await api.request("GET", "/contacts/alice@example.com", params={"q": "secret"})
    text = str(caught.value)
    assert "alice" not in text and "secret" not in text and "tok-" not in text


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (408, TransientError),
        (500, TransientError),
        (504, TransientError),
        (429, RateLimited),
        (401, AuthError),
        (403, AuthError),
        (400, RejectedError),
        (404, RejectedError),
        (409, RejectedError),
    ],
)
def test_status_table(status: int, error: type[Exception]) -> None:
    response = httpx.Response(status, request=httpx.Request("GET", "https://x.test/"))
    assert type(error_for_response(response, system="x")) is error


def test_2xx_and_3xx_are_not_errors() -> None:
    for status in (200, 201, 204, 304):
        response = httpx.Response(status, request=httpx.Request("GET", "https://x.test/"))
        assert error_for_response(response, system="x") is None


def test_retry_after_parses_seconds_and_http_date() -> None:
    now = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert (
        parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now) == 30
    )
    assert (
        parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now=now) == 0
    )
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


async def test_rate_limited_pauses_the_shared_budget() -> None:
    clock = [0.0]
    budget = RateBudget(100, clock=lambda: clock[0])
    handler = Scripted(httpx.Response(429, headers={"Retry-After": "5"}))
    async with connector(handler, budget=budget, retry=RetryPolicy(attempts=1)) as api:
        with pytest.raises(RateLimited):
            await api.request("GET", "/things")
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock[0] += seconds

    budget._sleep = sleep
    await budget.acquire()
    assert waits == [5.0]


async def test_client_uses_explicit_timeouts_and_is_closed() -> None:
    api = connector(Scripted(httpx.Response(200)))
    assert api.client.timeout == HttpConnector.DEFAULT_TIMEOUT
    async with api:
        pass
    assert api.client.is_closed


async def test_concurrent_401s_share_one_token_refresh() -> None:
    seen: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        await asyncio.sleep(0)
        return httpx.Response(401 if request.headers["Authorization"] == "Bearer tok-1" else 200)

    token = CountingToken()
    async with connector(handler, token=token) as api:
        await token.get(api.client)
        responses = await asyncio.gather(*(api.request("GET", "/things") for _ in range(20)))
    assert all(r.status_code == 200 for r in responses)
    assert token.fetches == 2
    assert seen.count("Bearer tok-1") == 20
