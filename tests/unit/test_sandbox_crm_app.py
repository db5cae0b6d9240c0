from typing import cast

import orjson
import pytest

from bizbus.deploy.sandbox.app import SandboxConfig
from bizbus.deploy.sandbox.crm import create_app
from bizbus.deploy.sandbox.crm.errors import fault_body
from bizbus.deploy.sandbox.faults import FaultInjector


def test_faults_from_the_environment_apply_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIZBUS_SANDBOX_CRM_FAULTS", '{"script": [503, 200], "latency_ms": 5}')
    app = cast(FaultInjector, create_app(SandboxConfig()))
    assert app.plan.script == [503, 200]
    assert app.plan.latency_ms == 5


def test_injected_fault_bodies_are_salesforce_error_arrays() -> None:
    body, content_type = fault_body(429)
    assert content_type.startswith("application/json")
    assert orjson.loads(body) == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]
