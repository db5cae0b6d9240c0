"""One contract every dialect connector in the registry honours, against its sandbox.

Parametrised over the registry: a connector that is registered without a case here fails
`test_every_dialect_has_a_contract_case`. Calls are counted at the transport (real sockets).
"""

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from bizbus.connectors.base import Sink, Source
from bizbus.connectors.errors import AuthError, TransientError
from bizbus.connectors.registry import DIALECTS
from bizbus.connectors.retry import RetryPolicy
from bizbus.connectors.settings import load_settings
from bizbus.deploy.sandbox.wiring import connector_env
from tests.integration.recording import RecordingTransport

FAST_RETRY = RetryPolicy(attempts=3, max_delay=10, initial=0.05, max_backoff=0.2, jitter=0.0)


@dataclass(frozen=True)
class Case:
    """How to reach one dialect's sandbox."""

    system: str  # sandbox name
    env_prefix: str
    secret_field: str  # a credential to spoil for the auth test
    sink: bool  # flows write to it (the OA is only read so far)


CASES = {
    "salesforce": Case("crm", "BIZBUS_CRM_", "client_secret", sink=True),
    "odoo": Case("erp", "BIZBUS_ERP_", "api_key", sink=True),
    "feishu": Case("oa", "BIZBUS_OA_", "app_secret", sink=False),
    "dingtalk": Case("dingtalk", "BIZBUS_OA_", "app_secret", sink=False),
}


def test_every_dialect_has_a_contract_case() -> None:
    assert set(DIALECTS) == set(CASES)


@pytest.fixture
def sandbox_urls(crm_url: str, erp_url: str, oa_url: str, dingtalk_url: str) -> dict[str, str]:
    return {"crm": crm_url, "erp": erp_url, "oa": oa_url, "dingtalk": dingtalk_url}


def _settings_values(case: Case, urls: dict[str, str]) -> dict[str, Any]:
    env = connector_env({case.system: urls[case.system]})
    return {name.removeprefix(case.env_prefix).lower(): value for name, value in env.items()}


@pytest.fixture(params=sorted(CASES))
async def dialect(
    request: pytest.FixtureRequest, sandbox_urls: dict[str, str]
) -> AsyncIterator[Callable[..., Any]]:
    """Build the dialect's connector against its sandbox; faults are reset afterwards."""
    name: str = request.param
    case = CASES[name]
    cls = DIALECTS[name].connector_class()
    settings_cls = DIALECTS[name].settings_class()
    made: list[Any] = []

    def build(transport: RecordingTransport, **overrides: Any) -> Any:
        values = {**_settings_values(case, sandbox_urls), **overrides}
        connector = cls(
            load_settings(settings_cls, **values), transport=transport, retry=FAST_RETRY
        )
        made.append(connector)
        return connector

    build.system_url = sandbox_urls[case.system]  # type: ignore[attr-defined]
    build.case = case  # type: ignore[attr-defined]
    yield build
    async with httpx.AsyncClient() as client:
        await client.delete(f"{sandbox_urls[case.system]}/_sandbox/faults")
    for connector in made:
        await connector.aclose()


async def _faults(url: str, plan: dict[str, Any]) -> None:
    async with httpx.AsyncClient() as client:
        (await client.post(f"{url}/_sandbox/faults", json=plan)).raise_for_status()


async def test_connector_is_a_source_and_a_sink_where_flows_write_and_answers_ping(
    dialect: Any,
) -> None:
    connector = dialect(RecordingTransport())
    await connector.ping()
    assert isinstance(connector, Source)
    assert isinstance(connector, Sink) == dialect.case.sink


async def test_503_then_200_is_retried_once(dialect: Any) -> None:
    transport = RecordingTransport()
    connector = dialect(transport)
    await connector.ping()  # authenticate first, so only the faulted call is counted below
    before = len(transport.calls)
    await _faults(dialect.system_url, {"script": [503]})
    await connector.ping()
    calls = transport.calls[before:]
    assert len(calls) == 2 and calls[0][:2] == calls[1][:2]


async def test_429_waits_for_retry_after(dialect: Any) -> None:
    transport = RecordingTransport()
    connector = dialect(transport)
    await connector.ping()
    await _faults(dialect.system_url, {"script": [429], "retry_after_s": 1})
    began = time.monotonic()
    await connector.ping()
    assert time.monotonic() - began >= 0.95


async def test_outage_ends_in_bounded_retries_and_a_clear_error(dialect: Any) -> None:
    transport = RecordingTransport()
    connector = dialect(transport)
    await connector.ping()
    before = len(transport.calls)
    await _faults(dialect.system_url, {"outage_until": time.time() + 60})
    with pytest.raises(TransientError, match=r"(?i)gave up|attempt"):
        await connector.ping()
    assert len(transport.calls) - before == FAST_RETRY.attempts


async def test_bad_credentials_raise_auth_error_without_a_retry_storm(dialect: Any) -> None:
    transport = RecordingTransport()
    connector = dialect(transport, **{dialect.case.secret_field: "wrong-secret"})
    with pytest.raises(AuthError):
        await connector.ping()
    assert len(transport.calls) <= 2, transport.calls  # one token fetch, at most one call
