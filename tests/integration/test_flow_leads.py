"""Trade-show leads reach Kafka; a converted lead is cross-referenced to its account.

Real worker, real broker, sandbox CRM. Leads are entered over the CRM's REST API as a
salesperson would; the events are read from Kafka and the link through `bizbus xref`.
"""

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from bizbus.deploy.demo.actors import CrmUser
from bizbus.schemas import LeadCapturedV1, decode_record
from tests.integration.flowstack import ROOT, FlowStack
from tests.integration.test_flow_orders import read_topic

CONTACT = "周建华"


@pytest.fixture(scope="module")
def stack(flow_stack_factory: Any) -> Iterator[FlowStack]:
    started: FlowStack = flow_stack_factory(flows="leads", systems=("crm",))
    yield started


async def leads_on_kafka(stack: FlowStack, lead_id: str) -> list[tuple[LeadCapturedV1, bytes]]:
    """The lead's events so far, each with its record value as Kafka holds it."""
    found = []
    for key, headers, value in await read_topic(stack, "biz.sales.lead"):
        if key == lead_id.encode():
            raw_headers = [(k, v.encode()) for k, v in headers.items()]
            event = decode_record(value, raw_headers, keys=stack.keys)
            assert isinstance(event.data, LeadCapturedV1)
            found.append((event.data, value))
    return found


async def test_a_lead_is_published_once_with_its_contact_sealed(
    stack: FlowStack, crm: CrmUser
) -> None:
    lead_id = await crm.create("Lead", {
        "LastName": "周", "FirstName": "建华", "Company": "苏州瑞精数控设备有限公司",
        "Email": "zhou.jh@example.cn", "Status": "Open - Not Contacted", "LeadSource": "Trade Show",
    })  # fmt: skip

    async def published() -> list[tuple[LeadCapturedV1, bytes]]:
        return await leads_on_kafka(stack, lead_id)

    [(lead, value)] = await stack.wait_for(published, what=f"lead {lead_id} on biz.sales.lead")
    assert lead.company == "苏州瑞精数控设备有限公司" and lead.lead_source == "Trade Show"
    assert lead.contact_name in (CONTACT, "周 建华")
    assert b"zhou.jh@example.cn" not in value and "周".encode() not in value  # sealed on Kafka
    await stack.wait_for_polls("crm.lead")
    assert len(await published()) == 1  # polled again: nothing new, nothing doubled


async def test_a_converted_lead_is_cross_referenced_to_its_account(
    stack: FlowStack, crm: CrmUser
) -> None:
    lead_id = await crm.create(
        "Lead",
        {"LastName": "吴", "Company": "无锡华成精密模具有限公司", "LeadSource": "Trade Show"},
    )
    account_id = await crm.create("Account", {"Name": "无锡华成精密模具有限公司"})
    await crm.update(
        "Lead", lead_id,
        {"IsConverted": True, "ConvertedAccountId": account_id, "Status": "Closed - Converted"},
    )  # fmt: skip

    async def converted() -> bool:
        return any(lead.converted_account_id for lead, _ in await leads_on_kafka(stack, lead_id))

    await stack.wait_for(converted, what=f"lead {lead_id} published as converted")

    def xref() -> subprocess.CompletedProcess[str]:
        env = {**stack.worker_env(), "COLUMNS": "200"}
        return subprocess.run(
            [sys.executable, "-m", "bizbus.deploy", "xref", lead_id],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip

    async def linked() -> subprocess.CompletedProcess[str] | None:
        result = xref()
        return result if result.returncode == 0 else None

    result = await stack.wait_for(linked, what=f"bizbus xref {lead_id}")
    assert f"lead:{lead_id}: account={account_id}, crm={lead_id}" in result.stdout, result.stdout
