"""Token providers: request shapes, expiry, single-flight refresh, refusal handling."""

import asyncio
import json
from urllib.parse import parse_qs

import httpx
import pytest
from pydantic import SecretStr

from bizbus.connectors.auth import (
    AccessToken,
    FeishuTenantToken,
    OdooApiKey,
    SalesforceClientCredentials,
    TokenProvider,
)
from bizbus.connectors.errors import AuthError, RateLimited, TransientError

SF_TOKEN_URL = "https://acme.my.salesforce.com/services/oauth2/token"  # noqa: S105  (a URL, not a password)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def salesforce_handler(counter: list[httpx.Request]) -> httpx.MockTransport:
    async def handler(request: httpx.Request) -> httpx.Response:
        counter.append(request)
        await asyncio.sleep(0.01)  # let the other callers pile up behind the refresh
        return httpx.Response(
            200,
            json={
                "access_token": f"00D!tok{len(counter)}",
                "instance_url": "https://acme.my.salesforce.com",
                "token_type": "Bearer",
            },
        )

    return httpx.MockTransport(handler)


async def test_salesforce_client_credentials_request_and_token() -> None:
    seen: list[httpx.Request] = []
    provider = SalesforceClientCredentials(
        SF_TOKEN_URL, "consumer-key", client_secret=SecretStr("consumer-secret")
    )
    async with httpx.AsyncClient(transport=salesforce_handler(seen)) as client:
        token = await provider.get(client)
        again = await provider.get(client)
    assert token is again
    assert token.value == "00D!tok1"
    assert token.instance_url == "https://acme.my.salesforce.com"
    assert token.expires_at is None
    form = parse_qs(seen[0].content.decode())
    assert form == {
        "grant_type": ["client_credentials"],
        "client_id": ["consumer-key"],
        "client_secret": ["consumer-secret"],
    }
    assert "00D!tok1" not in repr(token)


async def test_concurrent_callers_share_one_token_request() -> None:
    seen: list[httpx.Request] = []
    provider = SalesforceClientCredentials(SF_TOKEN_URL, "k", client_secret=SecretStr("s"))
    async with httpx.AsyncClient(transport=salesforce_handler(seen)) as client:
        tokens = await asyncio.gather(*(provider.get(client) for _ in range(50)))
    assert len(seen) == 1
    assert {t.value for t in tokens} == {"00D!tok1"}


async def test_concurrent_callers_after_invalidate_share_one_refresh() -> None:
    seen: list[httpx.Request] = []
    provider = SalesforceClientCredentials(SF_TOKEN_URL, "k", client_secret=SecretStr("s"))
    async with httpx.AsyncClient(transport=salesforce_handler(seen)) as client:
        old = await provider.get(client)
        # 20 requests all got 401 with the old token: each invalidates it, one refresh happens.
        for _ in range(20):
            provider.invalidate(old)
        tokens = await asyncio.gather(*(provider.get(client) for _ in range(20)))
        # A late invalidate of the old token must not throw away the new one.
        provider.invalidate(old)
        assert await provider.get(client) is tokens[0]
    assert len(seen) == 2
    assert {t.value for t in tokens} == {"00D!tok2"}


async def test_concurrent_callers_share_one_failure() -> None:
    calls = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return httpx.Response(400, json={"error": "invalid_client", "error_description": "x"})

    provider = SalesforceClientCredentials(SF_TOKEN_URL, "k", client_secret=SecretStr("s"))
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        results = await asyncio.gather(
            *(provider.get(client) for _ in range(10)), return_exceptions=True
        )
    assert calls == 1
    assert all(isinstance(r, AuthError) for r in results)
    assert "invalid_client" in str(results[0])
    assert "error_description" not in str(results[0])


async def test_token_endpoint_outage_is_transient() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(503))
    provider = SalesforceClientCredentials(SF_TOKEN_URL, "k", client_secret=SecretStr("s"))
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(TransientError):
            await provider.get(client)


async def test_feishu_tenant_token_refreshes_before_expiry() -> None:
    bodies: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/open-apis/auth/v3/tenant_access_token/internal"
        bodies.append(json.loads(request.content))
        return httpx.Response(
            200,
            json={
                "code": 0,
                "msg": "ok",
                "tenant_access_token": f"t-{len(bodies)}",
                "expire": 7200,
            },
        )

    clock = Clock()
    provider = FeishuTenantToken(
        "https://open.feishu.cn", "cli_a1", app_secret=SecretStr("sec"), clock=clock
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        first = await provider.get(client)
        clock.now += 7200 - 1801
        assert await provider.get(client) is first
        clock.now += 2  # fewer than 30 minutes left: Feishu hands out a new token now
        second = await provider.get(client)
    assert (first.value, second.value) == ("t-1", "t-2")
    assert bodies[0] == {"app_id": "cli_a1", "app_secret": "sec"}


@pytest.mark.parametrize(("code", "error"), [(10014, AuthError), (99991400, RateLimited)])
async def test_feishu_non_zero_code_is_an_error(code: int, error: type[Exception]) -> None:
    transport = httpx.MockTransport(
        lambda request: httpx.Response(200, json={"code": code, "msg": "app secret invalid"})
    )
    provider = FeishuTenantToken("https://open.feishu.cn", "cli", app_secret=SecretStr("s"))
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(error):
            await provider.get(client)


async def test_odoo_api_key_needs_no_fetch() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request expected")

    provider = OdooApiKey("prod", "integration@acme.cn", secret=SecretStr("key"))
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        token = await provider.get(client)
    assert token == AccessToken(value="key")
    assert not provider.refreshable


def test_providers_satisfy_the_protocol() -> None:
    providers = [
        OdooApiKey("d", "l", secret=SecretStr("k")),
        FeishuTenantToken("https://x", "a", app_secret=SecretStr("s")),
        SalesforceClientCredentials("https://x", "c", client_secret=SecretStr("s")),
    ]
    assert all(isinstance(p, TokenProvider) for p in providers)
