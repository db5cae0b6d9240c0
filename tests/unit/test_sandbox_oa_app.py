"""Sandbox OA app assembly: environment settings, auth errors and Feishu-shaped faults."""

import httpx
import pytest

from bizbus.deploy.sandbox.app import SandboxConfig
from bizbus.deploy.sandbox.company import EMPLOYEES
from bizbus.deploy.sandbox.oa import OaSandboxSettings, create_app
from bizbus.deploy.sandbox.oa.seed import TRAVEL_APPROVAL_CODE


def test_environment_sets_delivery_and_faults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIZBUS_SANDBOX_OA_DELIVERY", '{"retry_base_s": 0.1, "max_attempts": 2}')
    monkeypatch.setenv("BIZBUS_SANDBOX_OA_FAULTS", '{"script": [503]}')
    settings = OaSandboxSettings()
    assert (settings.delivery.retry_base_s, settings.delivery.max_attempts) == (0.1, 2)
    assert settings.faults is not None and settings.faults.script == [503]


async def test_env_faults_reach_the_api_but_never_the_controls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BIZBUS_SANDBOX_OA_FAULTS", '{"script": [503, 503]}')
    transport = httpx.ASGITransport(app=create_app(SandboxConfig()))
    async with httpx.AsyncClient(transport=transport, base_url="http://oa") as http:
        assert (await http.get("/_sandbox/health")).status_code == 200
        faulted = await http.post("/open-apis/auth/v3/tenant_access_token/internal", json={})
        assert faulted.status_code == 503 and faulted.json()["code"] == 1395001
        employees = (await http.get("/_sandbox/employees")).json()["employees"]
        assert [e["employee_no"] for e in employees] == [p.number for p in EMPLOYEES]
        assert {e["email"] for e in employees} == {p.email for p in EMPLOYEES}


async def test_bad_tokens_get_feishu_auth_codes() -> None:
    transport = httpx.ASGITransport(app=create_app(SandboxConfig()))
    path = f"/open-apis/approval/v4/approvals/{TRAVEL_APPROVAL_CODE}"
    async with httpx.AsyncClient(transport=transport, base_url="http://oa") as http:
        missing = await http.get(path)
        invalid = await http.get(path, headers={"Authorization": "Bearer t-forged"})
    assert (missing.status_code, missing.json()["code"]) == (400, 99991661)
    assert (invalid.status_code, invalid.json()["code"]) == (400, 99991663)
