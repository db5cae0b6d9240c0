"""OdooConnector against injected sandbox faults, over real sockets: 503, 429, 401, outage."""

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from bizbus.connectors.base import Outcome, SinkCommand
from bizbus.connectors.errors import AuthError, TransientError
from bizbus.connectors.odoo import OdooConnector
from bizbus.connectors.retry import RetryPolicy
from tests.integration.recording import RecordingTransport
from tests.integration.test_connector_odoo_sandbox import effects, erp_settings

FAST = RetryPolicy(attempts=3, max_delay=5.0, initial=0.05, max_backoff=0.2, jitter=0.05)


@pytest.fixture
async def control(erp_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=erp_url, timeout=5) as client:
        try:
            yield client
        finally:
            await client.delete("/_sandbox/faults")


@pytest.fixture
def wire() -> RecordingTransport:
    return RecordingTransport()


@pytest.fixture
async def erp(erp_url: str, wire: RecordingTransport) -> AsyncIterator[OdooConnector]:
    async with OdooConnector(erp_settings(erp_url), transport=wire, retry=FAST) as erp:
        await erp.ping()  # the uid is known before any fault is injected
        wire.calls.clear()
        yield erp


async def faults(control: httpx.AsyncClient, **plan: Any) -> None:
    assert (await control.post("/_sandbox/faults", json=plan)).status_code == 200


async def test_503_then_200_is_retried_once_and_creates_once(
    erp: OdooConnector, wire: RecordingTransport, control: httpx.AsyncClient, erp_url: str
) -> None:
    ref = f"C-F{uuid.uuid4().hex[:8]}"
    await faults(control, script=[503])
    result = await erp.apply(SinkCommand("res.partner", ref, {"name": "常州故障测试有限公司"}))
    assert result.outcome is Outcome.CREATED
    # The 503 hit the search; it was resent once, then the create went through.
    assert wire.under("/jsonrpc") == [("POST", 503), ("POST", 200), ("POST", 200)]
    assert [e["key"] for e in await effects(erp_url, "res.partner")].count(ref) == 1


async def test_429_waits_for_retry_after_then_succeeds(
    erp: OdooConnector, wire: RecordingTransport, control: httpx.AsyncClient
) -> None:
    await faults(control, script=[429], retry_after_s=1)
    started = time.monotonic()
    assert await erp.search("res.partner", [("ref", "=", "C10001")]) != []
    assert time.monotonic() - started >= 1.0
    assert wire.under("/jsonrpc") == [("POST", 429), ("POST", 200)]


async def test_a_wrong_api_key_is_an_auth_error_without_a_storm(
    erp_url: str, wire: RecordingTransport
) -> None:
    settings = erp_settings(erp_url, api_key="not-the-key")
    async with OdooConnector(settings, transport=wire, retry=FAST) as erp:
        with pytest.raises(AuthError, match="refused") as caught:
            await erp.apply(SinkCommand("res.partner", "C10001", {"name": "x"}))
    assert "not-the-key" not in str(caught.value)
    assert wire.under("/jsonrpc") == [("POST", 200)]  # one authenticate, nothing resent


@pytest.mark.parametrize("protocol", ["jsonrpc", "json2"])
async def test_a_revoked_key_with_a_known_uid_fails_once(
    erp_url: str, wire: RecordingTransport, protocol: str
) -> None:
    settings = erp_settings(erp_url, api_key="revoked-key", uid=3, protocol=protocol)
    async with OdooConnector(settings, transport=wire, retry=FAST) as erp:
        with pytest.raises(AuthError, match="AccessDenied"):
            await erp.search("res.partner", [])
    assert len(wire.calls) == 1


async def test_an_outage_ends_in_a_clear_transient_error_after_bounded_tries(
    erp: OdooConnector, wire: RecordingTransport, control: httpx.AsyncClient
) -> None:
    await faults(control, outage_until=time.time() + 30)
    started = time.monotonic()
    with pytest.raises(TransientError) as caught:
        await erp.apply(SinkCommand("res.partner", "C10001", {"name": "x"}))
    elapsed = time.monotonic() - started
    message = str(caught.value)
    assert message.startswith("odoo: POST answered 503 Service Unavailable")
    assert "ServiceUnavailable" in message and "gave up after 3 attempts" in message
    assert wire.under("/jsonrpc") == [("POST", 503)] * 3
    assert elapsed < 3.0
