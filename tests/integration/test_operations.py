"""Day-two operations on a real worker: /metrics during a flow, health endpoints, redacted JSON log.

One stack (CRM and ERP sandboxes, a worker running `customers` with `BIZBUS_LOG_FORMAT=json`).
A CRM account with a canary name and phone goes through to the ERP; a malformed CRM record,
its bad timestamp a canary too, makes the mapping stage fail with an unexpected ValueError
whose text quotes it. Then the worker's metrics must show both, its health endpoints answer,
and every line of its log is JSON with the record's context and holds no canary: neither the
personal data nor a connector secret, the web token or the personal-data key.
"""

import json
import secrets
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bizbus.connectors.salesforce import format_soql
from bizbus.deploy.demo.actors import CrmUser, ErpUser
from bizbus.deploy.sandbox.registry import SYSTEMS
from bizbus.schemas import SourceRecordCapturedV1, make_event
from tests.integration.conftest import SALESPERSON
from tests.integration.flowstack import WEB_TOKEN, FlowStack

state: dict[str, Any] = {}


@pytest.fixture(scope="module")
def stack(flow_stack_factory: Any) -> Iterator[FlowStack]:
    started: FlowStack = flow_stack_factory(
        flows="customers", systems=("crm", "erp"), worker_env={"BIZBUS_LOG_FORMAT": "json"}
    )
    yield started


def canaries(stack: FlowStack) -> list[str]:
    """Personal data the test put in the CRM, and every secret the worker was given."""
    crm, erp = SYSTEMS["crm"].credentials, SYSTEMS["erp"].credentials
    secrets_given = [crm["client_secret"], erp["integration_api_key"], WEB_TOKEN]
    secrets_given += json.loads(stack.pii_env["BIZBUS_PII_KEYS"]).values()  # the key material
    return [*state["personal"], SALESPERSON.email, *secrets_given]


async def scrape(stack: FlowStack) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    async with httpx.AsyncClient(base_url=stack.worker_url, timeout=10) as http:  # no token
        response = await http.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    state["sample"] = response.text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def at(**labels: str) -> frozenset[tuple[str, str]]:
    return frozenset(labels.items())


async def send_malformed_account(stack: FlowStack, owner_id: str, stamp: str) -> str:
    """Publish a CRM Account capture whose SystemModstamp is no time (as a broken feed might)."""
    record_id = f"001{uuid.uuid4().hex[:15]}"
    captured = SourceRecordCapturedV1(
        system="crm", object_name="Account", record_id=record_id, modified_at=datetime.now(UTC),
        record={"Id": record_id, "Name": "损坏的记录", "OwnerId": owner_id,
                "SystemModstamp": stamp},
    )  # fmt: skip
    event = make_event(
        captured, source="bizbus://crm/Account", correlationid=f"deal-{record_id}", origin="crm"
    )
    await stack.publish("src.crm.account", event, sealed=True)
    return event.id


async def test_metrics_count_a_real_flow_its_api_calls_and_an_unexpected_failure(
    stack: FlowStack, crm: CrmUser, erp: ErpUser
) -> None:
    tag = secrets.token_hex(3)
    name, phone = f"金丝雀监控机械有限公司 {tag}", f"+86 138 {secrets.randbelow(10**8):08d}"
    stamp = f"not-a-time 李四 {tag}"
    state["personal"] = [name, phone, stamp]
    [owner] = await crm.query(
        format_soql("SELECT Id FROM User WHERE Username = {u}", u=SALESPERSON.email)
    )
    account = await crm.create("Account", {"Name": name, "Phone": phone, "BillingCountry": "中国",
                                           "OwnerId": owner["Id"]})  # fmt: skip

    async def in_erp() -> list[dict[str, Any]]:
        return await erp.search_read("res.partner", [("ref", "=", f"CRM-{account}")], ["id"])

    await stack.wait_for(in_erp, what="the canary account as an ERP customer")
    state["bad_event"] = await send_malformed_account(stack, owner["Id"], stamp)
    mapping = at(flow="customers", stage="crm-accounts")

    async def dead_lettered() -> dict[Any, float] | None:
        got = await scrape(stack)
        return got if got.get(("bizbus_stage_events_dead_lettered_total", mapping)) else None

    got = await stack.wait_for(dead_lettered, what="the malformed account dead-lettered")
    assert got["bizbus_stage_events_in_total", mapping] >= 2
    assert got["bizbus_stage_events_out_total", mapping] >= 1
    failed = at(flow="customers", stage="crm-accounts", error="ValueError")
    assert got["bizbus_stage_events_failed_total", failed] == 1
    requests = at(flow="customers", stage="customer-requests")  # a pure stage, batched
    assert got["bizbus_stage_events_out_total", requests] >= 1
    assert got["bizbus_stage_events_done_total", at(flow="customers", stage="erp-customers")] >= 1
    calls = {
        labels: value for (metric, labels), value in got.items()
        if metric == "bizbus_api_calls_total" and ("system", "erp") in labels
    }  # fmt: skip
    assert any(("operation", "res.partner.create") in labels for labels in calls), calls
    assert all(("outcome", "2xx") in labels for labels in calls), calls
    timed = [v for (metric, labels), v in got.items() if metric == "bizbus_api_call_seconds_count"]
    assert sum(timed) >= sum(calls.values()) > 0
    assert got["bizbus_system_state", at(system="erp", state="up")] == 1
    assert got["bizbus_system_state", at(system="crm", state="rejected")] == 0
    assert got["bizbus_worker_ready", at()] == 1
    assert got["bizbus_poll_passes_total", at(feed="crm.account")] >= 1
    lag = [labels for (metric, labels), _ in got.items() if metric == "bizbus_consumer_lag"]
    assert at(group=stack.app_id, topic=stack.topic("src.crm.account"), partition="0") in lag
    print("\n" + state["sample"])  # noqa: T201 - the sample the issue asks for, shown with -s


async def test_health_endpoints_answer_probes_without_the_token(stack: FlowStack) -> None:
    async with httpx.AsyncClient(base_url=stack.worker_url, timeout=10) as http:
        alive = await http.get("/healthz")
        ready = await http.get("/readyz")
        legacy = await http.get("/bizbus/ready/")
    assert (alive.status_code, alive.json()) == (200, {"alive": True})
    assert (ready.status_code, ready.json()) == (200, {"ready": True})
    assert (legacy.status_code, legacy.json()) == (200, {"ready": True})
    async with stack.web() as http:
        detailed = (await http.get("/readyz")).json()
    assert detailed["ready"] is True and detailed["waiting_for"] == []


def test_the_json_log_names_the_failed_record_and_holds_no_canary(stack: FlowStack) -> None:
    text = stack.log_path.read_text(encoding="utf-8")
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]  # all JSON
    assert any("bizbus worker ready in" in line["message"] for line in lines)
    [failure] = [line for line in lines if line.get("event_id") == state["bad_event"]]
    assert failure["level"] == "error" and "unexpected ValueError" in failure["message"]
    assert failure["flow"] == "customers" and failure["stage"] == "crm-accounts"
    assert failure["topic"] == stack.topic("src.crm.account")
    assert isinstance(failure["offset"], int) and isinstance(failure["partition"], int)
    assert failure["correlation_id"].startswith("deal-001")
    leaked = [canary for canary in canaries(stack) if canary in text]
    assert not leaked, f"the worker log holds {leaked}"
