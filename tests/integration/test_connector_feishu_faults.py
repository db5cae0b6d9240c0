"""FeishuConnector against injected sandbox OA faults, over real sockets: 503, 429, 401, outage."""

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from bizbus.connectors.auth import AccessToken, RefreshingToken
from bizbus.connectors.errors import AuthError, RateLimited, TransientError
from bizbus.connectors.feishu import FeishuConnector, FeishuSettings
from bizbus.connectors.retry import RetryPolicy
from bizbus.connectors.settings import load_settings
from bizbus.deploy.sandbox.registry import SYSTEMS
from tests.integration.recording import RecordingTransport

CREDENTIALS = SYSTEMS["oa"].credentials
TRAVEL = "7C468A54-8745-2245-9675-08B7C63E7A85"
TOKEN_PATH = "/open-apis/auth/v3/tenant_access_token/internal"  # noqa: S105 - a URL path
FAST = RetryPolicy(attempts=3, max_delay=5.0, initial=0.05, max_backoff=0.2, jitter=0.05)


class Recording(RecordingTransport):
    def api_calls(self) -> list[tuple[str, int]]:
        return self.under("/open-apis/approval/")

    def token_calls(self) -> int:
        return self.count(TOKEN_PATH)


def oa_settings(oa_url: str, **values: Any) -> FeishuSettings:
    secrets = {k: CREDENTIALS[k] for k in ("app_secret", "encrypt_key", "verification_token")}
    return load_settings(
        FeishuSettings,
        **{"base_url": oa_url, "app_id": CREDENTIALS["app_id"], "approval_codes": TRAVEL,
           **secrets, **values},
    )  # fmt: skip


@pytest.fixture
async def control(oa_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=oa_url, timeout=5, trust_env=False) as client:
        try:
            yield client
        finally:
            await client.delete("/_sandbox/faults")


@pytest.fixture
def wire() -> Recording:
    return Recording()


@pytest.fixture
async def oa(oa_url: str, wire: Recording) -> AsyncIterator[FeishuConnector]:
    async with FeishuConnector(oa_settings(oa_url), transport=wire, retry=FAST) as oa:
        await oa.ping()  # the token is fetched before any fault is injected
        wire.calls.clear()
        yield oa


async def faults(control: httpx.AsyncClient, **plan: Any) -> None:
    assert (await control.post("/_sandbox/faults", json=plan)).status_code == 200


async def test_429_waits_for_retry_after_then_succeeds(
    oa: FeishuConnector, wire: Recording, control: httpx.AsyncClient
) -> None:
    await faults(control, script=[429], retry_after_s=1)
    started = time.monotonic()
    await oa.ping()
    assert time.monotonic() - started >= 1.0
    assert wire.api_calls() == [("GET", 429), ("GET", 200)]


async def test_a_lasting_429_ends_in_rate_limited_after_bounded_tries(
    oa: FeishuConnector, wire: Recording, control: httpx.AsyncClient
) -> None:
    await faults(control, rate_limit_rate=1.0, retry_after_s=0)
    with pytest.raises(RateLimited, match="gave up after 3 attempts"):
        await oa.ping()
    assert wire.api_calls() == [("GET", 429)] * 3


async def test_a_wrong_app_secret_is_an_auth_error_after_one_token_request(
    oa_url: str, wire: Recording
) -> None:
    settings = oa_settings(oa_url, app_secret="not-the-secret")  # noqa: S106 - a wrong one
    async with FeishuConnector(settings, transport=wire, retry=FAST) as oa:
        with pytest.raises(AuthError, match="10014") as caught:
            await oa.ping()
    assert "not-the-secret" not in str(caught.value)
    assert wire.token_calls() == 1 and wire.api_calls() == []


class BogusTokens(RefreshingToken):
    """Hands out tokens the OA never issued (a revoked app, a token from another tenant)."""

    def __init__(self) -> None:
        super().__init__("feishu")
        self.fetched = 0

    async def fetch(self, client: httpx.AsyncClient) -> AccessToken:
        self.fetched += 1
        return AccessToken(value=f"t-bogus-{self.fetched}")


async def test_an_invalid_token_is_refreshed_once_then_an_auth_error(
    oa_url: str, wire: Recording
) -> None:
    tokens = BogusTokens()
    async with FeishuConnector(oa_settings(oa_url), transport=wire, retry=FAST, token=tokens) as oa:
        with pytest.raises(AuthError, match="99991663"):
            await oa.fetch_detail("81D31358-93AF-92D6-7425-01A5D67C4E71")
    assert tokens.fetched == 2
    assert wire.api_calls() == [("GET", 400), ("GET", 400)]


async def test_an_outage_ends_in_bounded_retries_and_a_clear_transient_error(
    oa: FeishuConnector, wire: Recording, control: httpx.AsyncClient
) -> None:
    await faults(control, outage_until=time.time() + 30)
    started = time.monotonic()
    with pytest.raises(TransientError, match=r"answered 503 .*gave up after 3 attempts") as caught:
        await oa.fetch_detail("81D31358-93AF-92D6-7425-01A5D67C4E71")
    assert not isinstance(caught.value, RateLimited)
    assert time.monotonic() - started < 5
    assert wire.api_calls() == [("GET", 503)] * 3
