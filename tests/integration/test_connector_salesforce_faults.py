"""SalesforceConnector against injected sandbox faults, over real sockets: 503, 429, 401, outage."""

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bizbus.connectors.auth import AccessToken, RefreshingToken
from bizbus.connectors.base import Outcome, SinkCommand
from bizbus.connectors.errors import AuthError, RateLimited, TransientError
from bizbus.connectors.retry import RetryPolicy
from bizbus.connectors.salesforce import SalesforceConnector, SalesforceSettings
from bizbus.connectors.settings import load_settings
from bizbus.deploy.sandbox.registry import SYSTEMS
from tests.integration.recording import RecordingTransport

TOKEN_PATH = "/services/oauth2/token"  # noqa: S105 - a URL path, not a secret
FAST = RetryPolicy(attempts=3, max_delay=5.0, initial=0.05, max_backoff=0.2, jitter=0.05)


class Recording(RecordingTransport):
    def data_calls(self) -> list[tuple[str, int]]:
        return self.under("/services/data/")

    def token_calls(self) -> int:
        return self.count(TOKEN_PATH)


def crm_settings(crm_url: str, **values: Any) -> SalesforceSettings:
    creds = SYSTEMS["crm"].credentials
    return load_settings(
        SalesforceSettings,
        base_url=crm_url,
        **{"client_id": creds["client_id"], "client_secret": creds["client_secret"], **values},
    )


@pytest.fixture
async def control(crm_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=crm_url, timeout=5) as client:
        try:
            yield client
        finally:
            await client.delete("/_sandbox/faults")


@pytest.fixture
async def wire() -> Recording:
    return Recording()


@pytest.fixture
async def crm(crm_url: str, wire: Recording) -> AsyncIterator[SalesforceConnector]:
    async with SalesforceConnector(crm_settings(crm_url), transport=wire, retry=FAST) as crm:
        await crm.ping()  # the token is fetched before any fault is injected
        wire.calls.clear()
        yield crm


async def faults(control: httpx.AsyncClient, **plan: Any) -> None:
    assert (await control.post("/_sandbox/faults", json=plan)).status_code == 200


async def test_503_then_200_is_retried_once_and_writes_once(
    crm: SalesforceConnector, wire: Recording, control: httpx.AsyncClient
) -> None:
    ref = f"CF{uuid.uuid4().hex[:8]}"
    command = SinkCommand("Account", ref, {"Name": "常州故障测试有限公司"})
    await faults(control, script=[503])
    result = await crm.apply(command)
    assert result.outcome is Outcome.CREATED
    # The 503 hit the read-before-write; it was resent once, then the upsert went through.
    assert wire.data_calls() == [("GET", 503), ("GET", 404), ("PATCH", 201)]
    effects = (await control.get("/_sandbox/effects", params={"object": "Account"})).json()
    assert [e["key"] for e in effects["effects"]].count(f"ErpCustomerRef__c={ref}") == 1


async def test_a_503_on_the_write_itself_is_resent_once(
    crm_url: str, wire: Recording, control: httpx.AsyncClient
) -> None:
    settings = crm_settings(crm_url, compare_before_write=False)
    async with SalesforceConnector(settings, transport=wire, retry=FAST) as crm:
        await crm.ping()
        wire.calls.clear()
        await faults(control, script=[503])
        ref = f"CF{uuid.uuid4().hex[:8]}"
        result = await crm.apply(SinkCommand("Account", ref, {"Name": "常州重发测试有限公司"}))
    assert result.outcome is Outcome.CREATED
    assert wire.data_calls() == [("PATCH", 503), ("PATCH", 201)]


async def test_429_waits_for_retry_after_then_succeeds(
    crm: SalesforceConnector, wire: Recording, control: httpx.AsyncClient
) -> None:
    await faults(control, script=[429], retry_after_s=1)
    started = time.monotonic()
    rows = await crm.query("SELECT Id FROM Pricebook2 WHERE IsStandard = true")
    elapsed = time.monotonic() - started
    assert len(rows) == 1
    assert elapsed >= 1.0
    assert wire.data_calls() == [("GET", 429), ("GET", 200)]


async def test_a_lasting_429_ends_in_rate_limited_after_bounded_tries(
    crm: SalesforceConnector, wire: Recording, control: httpx.AsyncClient
) -> None:
    await faults(control, rate_limit_rate=1.0, retry_after_s=0)
    with pytest.raises(RateLimited, match="gave up after 3 attempts"):
        await crm.ping()
    assert wire.data_calls() == [("GET", 429)] * 3


async def test_wrong_client_secret_is_an_auth_error_after_one_token_request(
    crm_url: str, wire: Recording
) -> None:
    settings = crm_settings(crm_url, client_secret="not-the-secret")  # noqa: S106 - a wrong one
    async with SalesforceConnector(settings, transport=wire, retry=FAST) as crm:
        with pytest.raises(AuthError, match="invalid_client") as caught:
            await crm.ping()
    assert "not-the-secret" not in str(caught.value)
    assert wire.token_calls() == 1 and wire.data_calls() == []


async def test_a_revoked_token_is_refreshed_once_and_the_call_succeeds(
    crm: SalesforceConnector, wire: Recording, control: httpx.AsyncClient
) -> None:
    assert crm.token is not None
    token = await crm.token.get(crm.client)
    revoked = await control.post("/services/oauth2/revoke", data={"token": token.value})
    assert revoked.status_code == 200
    await crm.ping()
    assert wire.data_calls() == [("GET", 401), ("GET", 200)]
    assert wire.token_calls() == 1


class AlwaysRefused(RefreshingToken):
    """Hands out tokens the CRM does not know, counting how often it was asked."""

    def __init__(self) -> None:
        super().__init__("salesforce")
        self.fetches = 0

    async def fetch(self, client: httpx.AsyncClient) -> AccessToken:
        self.fetches += 1
        return AccessToken(value=f"00D000000000000!forged{self.fetches}")


async def test_a_refused_fresh_token_is_an_auth_error_without_a_storm(
    crm_url: str, wire: Recording
) -> None:
    token = AlwaysRefused()
    settings = crm_settings(crm_url, client_secret=SecretStr("unused"))
    async with SalesforceConnector(settings, transport=wire, token=token, retry=FAST) as crm:
        with pytest.raises(AuthError, match="401") as caught:
            await crm.apply(SinkCommand("Order", "Id=801000000000001AAA", {"Status": "Draft"}))
    assert "INVALID_SESSION_ID" in str(caught.value)
    assert token.fetches == 2
    assert wire.data_calls() == [("GET", 401), ("GET", 401)]


async def test_an_outage_ends_in_a_clear_transient_error_after_bounded_tries(
    crm: SalesforceConnector, wire: Recording, control: httpx.AsyncClient
) -> None:
    await faults(control, outage_until=time.time() + 30)
    started = time.monotonic()
    with pytest.raises(TransientError) as caught:
        await crm.query("SELECT Id FROM Account LIMIT 1")
    elapsed = time.monotonic() - started
    message = str(caught.value)
    assert message.startswith("salesforce: GET answered 503 Service Unavailable")
    assert "SERVER_UNAVAILABLE" in message and "gave up after 3 attempts" in message
    assert wire.data_calls() == [("GET", 503)] * 3
    assert elapsed < 3.0
