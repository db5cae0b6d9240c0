"""travel end to end: OA trip approved → ERP business trip; duplicates; revocation; catch-up.

The approved trip also shows one trace id on every hop, and `bizbus trace` and `bizbus xref`
tell its story from the trace index and the cross-reference table.

One stack (ERP + OA sandboxes, a worker running only `travel`). The worker's webhook is
registered twice at the OA, so every Feishu event reaches it twice. Catch-up polling is off
(once an hour) until the last test restarts the worker with it on. Effects are read from the
ERP's effects log (every create, write and action, keyed by `x_external_ref`).
"""

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import date
from functools import partial
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition

from bizbus.deploy.demo.actors import ErpUser, OaUser
from bizbus.deploy.sandbox.company import employee
from bizbus.deploy.sandbox.oa.seed import TRAVEL_APPROVAL_CODE
from bizbus.flows.runtime.polling import correlation_id
from bizbus.schemas import (
    BusinessTripRecordedV1,
    BusinessTripRequestedV1,
    Envelope,
    SourceRecordCapturedV1,
    TravelApprovedV1,
    decode_record,
)
from tests.integration.flowstack import FlowStack

TRAVELLER = employee("E1002")  # 李娜, matched by employee number
LATE_TRAVELLER = employee("E1005")  # 陈静, whose ERP number differs: matched by e-mail
WEBHOOK = "/webhooks/feishu"
RAW_TOPIC, CMD_TOPIC = "src.oa.approval-instance", "cmd.erp.business-trip"
TRAVEL_TOPIC, RECORDED_TOPIC = "biz.hr.travel", "biz.hr.business-trip"
state: dict[str, Any] = {}


@pytest.fixture(scope="module")
def stack(flow_stack_factory: Any) -> Iterator[FlowStack]:
    started: FlowStack = flow_stack_factory(
        flows="travel",
        systems=("erp", "oa"),
        sandbox_env={"BIZBUS_SANDBOX_OA_DELIVERY": '{"retry_base_s": 0.2}'},
        worker_env={"BIZBUS_OA_POLL_INTERVAL_S": "3600"},
    )
    yield started


async def control(stack: FlowStack, system: str, method: str, path: str, **kw: Any) -> Any:
    async with httpx.AsyncClient(base_url=stack.urls[system], timeout=10) as http:
        response = await http.request(method, path, **kw)
    response.raise_for_status()
    return response.json()


async def leave_effects(stack: FlowStack, code: str) -> list[dict[str, Any]]:
    rows = (await control(stack, "erp", "GET", "/_sandbox/effects?object=hr.leave"))["effects"]
    return [row for row in rows if row["key"] == code]


async def leave_of(erp: ErpUser, code: str) -> dict[str, Any] | None:
    rows = await erp.search_read(
        "hr.leave", [["x_external_ref", "=", code]],
        ["employee_id", "request_date_from", "request_date_to", "x_destination", "state", "name"],
    )  # fmt: skip
    return rows[0] if rows else None


async def employee_id(erp: ErpUser, field: str, value: str) -> int:
    [row] = await erp.search_read("hr.employee", [[field, "=", value]], ["id"])
    return int(row["id"])


async def file_and_approve(oa: OaUser, user_id: str, destination: str, start: date) -> str:
    code = await oa.file_trip(
        TRAVEL_APPROVAL_CODE, user_id, destination=destination, start=start, days=3,
        purpose="参加中国国际工业博览会", uuid=str(uuid.uuid4()),
    )  # fmt: skip
    await oa.approve(TRAVEL_APPROVAL_CODE, code)
    return code


async def records_of(stack: FlowStack, logical: str, key_part: str) -> list[Any]:
    """Every record of a topic whose key contains `key_part`, read to the topic's end."""
    consumer = AIOKafkaConsumer(
        stack.topic(logical), bootstrap_servers=stack.kafka_bootstrap,
        auto_offset_reset="earliest", enable_auto_commit=False,
    )  # fmt: skip
    found: list[Any] = []

    def keep(batch: dict[TopicPartition, list[Any]]) -> None:
        found.extend(r for rs in batch.values() for r in rs if key_part in r.key.decode())

    await consumer.start()
    try:
        async with asyncio.timeout(20):
            while not consumer.assignment():
                keep(await consumer.getmany(timeout_ms=200))
            ends = await consumer.end_offsets(list(consumer.assignment()))
            for tp, end in ends.items():
                while await consumer.position(tp) < end:
                    keep(await consumer.getmany(tp, timeout_ms=500))
        return found
    finally:
        await consumer.stop()


async def end_offsets(stack: FlowStack, logical: str) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(stack.topic(logical), bootstrap_servers=stack.kafka_bootstrap)
    await consumer.start()
    try:
        async with asyncio.timeout(20):
            while not consumer.assignment():
                await consumer.getmany(timeout_ms=100)
        return dict(await consumer.end_offsets(list(consumer.assignment())))
    finally:
        await consumer.stop()


async def caught_up(stack: FlowStack, logical: str) -> bool:
    """True when the worker's group committed every record of `logical`."""
    ends = await end_offsets(stack, logical)
    assert ends, f"{logical} has no partitions"
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(stack.app_id)
    finally:
        await admin.close()
    return all(end == 0 or (tp in committed and committed[tp].offset >= end)
               for tp, end in ends.items())  # fmt: skip


async def test_an_approved_trip_becomes_one_erp_business_trip(
    stack: FlowStack, erp: ErpUser, oa: OaUser
) -> None:
    url = stack.worker_url + WEBHOOK
    for _ in range(2):  # two request URLs: every event reaches the worker twice
        await control(stack, "oa", "POST", "/_sandbox/callbacks", json={"url": url})

    async def subscribed() -> bool:
        path = "/_sandbox/effects?object=approval_subscription"
        return bool((await control(stack, "oa", "GET", path))["effects"])

    await stack.wait_for(subscribed, what="the worker subscribing to the travel approvals")

    code = await file_and_approve(oa, TRAVELLER.oa_user_id, "上海", date(2026, 12, 7))
    state["code"] = code

    async def validated() -> dict[str, Any] | None:
        leave = await leave_of(erp, code)
        return leave if leave and leave["state"] == "validate" else None

    leave = await stack.wait_for(validated, what="the approved trip in the ERP", timeout_s=30)
    assert leave["employee_id"][0] == await employee_id(erp, "barcode", TRAVELLER.number)
    assert (leave["request_date_from"], leave["request_date_to"]) == ("2026-12-07", "2026-12-09")
    assert leave["x_destination"] == "上海"
    assert "参加中国国际工业博览会" in leave["name"]
    effects = await leave_effects(stack, code)
    assert [e["action"] for e in effects].count("create") == 1
    state["effects"] = len(effects)

    raw = [
        decode_record(r.value, r.headers, keys=stack.keys).data
        for r in await records_of(stack, RAW_TOPIC, code)
    ]
    assert any(isinstance(p, SourceRecordCapturedV1) and p.record.get("event_id") for p in raw), (
        "no record came through the webhook"
    )


def trace_id(traceparent: str | None) -> str:
    assert traceparent, "a hop carries no ce_traceparent"
    return traceparent.split("-")[1]


async def test_one_trace_follows_the_trip_from_the_webhook_to_the_erp_write(
    stack: FlowStack,
) -> None:
    code = state["code"]

    async def events(logical: str) -> list[Envelope[Any]]:
        return [
            decode_record(r.value, r.headers, keys=stack.keys)
            for r in await records_of(stack, logical, code)
        ]

    pushed = [e for e in await events(RAW_TOPIC) if e.data.record.get("event_id")]
    assert pushed, "no record came through the webhook"
    webhook_traces = {trace_id(e.traceparent) for e in pushed}
    [command] = await events(CMD_TOPIC)
    trip = trace_id(command.traceparent)
    assert trip in webhook_traces, "the ERP command is not in the webhook's trace"
    [announced] = await events(TRAVEL_TOPIC)
    assert trace_id(announced.traceparent) == trip

    async def recorded() -> list[Envelope[Any]]:
        return await events(RECORDED_TOPIC)

    [done] = await stack.wait_for(recorded, what="the trip recorded event", timeout_s=30)
    assert trace_id(done.traceparent) == trip
    # Stages that call systems open a span of their own: same trace, new parent span.
    spans = {e.traceparent.split("-")[2] for e in (announced, done) if e.traceparent}
    assert len(spans) == 2 and not spans & {
        e.traceparent.split("-")[2] for e in pushed if e.traceparent
    }

    erp_calls = (await control(stack, "erp", "GET", "/_sandbox/requests"))["requests"]
    traced = [call for call in erp_calls if trip in call.get("traceparent", "")]
    assert any(call["method"] == "POST" and call["path"] == "/jsonrpc" for call in traced), (
        f"no ERP call carried trace {trip}: {erp_calls[-5:]}"
    )


def bizbus(stack: FlowStack, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the `bizbus` CLI against the stack's Kafka and worker group."""
    return subprocess.run(
        [sys.executable, "-m", "bizbus.deploy", *args], capture_output=True, text=True,
        timeout=120, env={**stack.worker_env(), "COLUMNS": "200"},
    )  # fmt: skip


def step(event_type: str) -> str:
    return event_type.removeprefix("bizbus.").rsplit(".v", 1)[0]


async def test_trace_tells_the_trip_as_a_timeline_from_the_index(stack: FlowStack) -> None:
    code = state["code"]
    deal = correlation_id("oa-instance", code)

    async def traced() -> dict[str, Any] | None:
        result = await asyncio.to_thread(bizbus, stack, "trace", code, "--json")
        answer: dict[str, Any] = json.loads(result.stdout)
        steps = {hop["step"] for hop in answer["hops"]}
        return answer if step(BusinessTripRecordedV1.EVENT_TYPE) in steps else None

    answer = await stack.wait_for(traced, what="the trip's hops in the trace index")
    assert answer["correlation_ids"] == [deal]
    hops = [(hop["system"], hop["step"]) for hop in answer["hops"]]
    assert hops == [
        ("oa", step(SourceRecordCapturedV1.EVENT_TYPE)),  # the webhook record that started it
        ("oa", step(TravelApprovedV1.EVENT_TYPE)),
        ("erp", step(BusinessTripRequestedV1.EVENT_TYPE)),
        ("erp", step(BusinessTripRecordedV1.EVENT_TYPE)),
    ]
    latencies = [hop["latency_ms"] for hop in answer["hops"]]
    assert latencies[0] is None and all(ms >= 0 for ms in latencies[1:])
    assert answer["hops"][0]["topic"] == RAW_TOPIC
    leave_id = answer["records"][f"trip:{code}"]["erp"]
    assert answer["records"][f"trip:{code}"] == {"oa": code, "erp": leave_id}

    table = await asyncio.to_thread(bizbus, stack, "trace", deal)  # by correlation id too
    assert table.returncode == 0, table.stderr
    assert "4 hop(s) over" in table.stdout and step(TravelApprovedV1.EVENT_TYPE) in table.stdout
    unknown = await asyncio.to_thread(bizbus, stack, "trace", "no-such-deal")
    assert unknown.returncode == 1 and "No indexed deal" in unknown.stderr
    assert "No event mentions 'no-such-deal'" in unknown.stdout  # the full read found none


async def test_xref_names_each_system_record_of_the_trip(stack: FlowStack, erp: ErpUser) -> None:
    code = state["code"]
    [row] = await erp.search_read("hr.leave", [["x_external_ref", "=", code]], ["id"])
    for ident in (code, str(row["id"])):  # by the OA code, and by the ERP id
        result = await asyncio.to_thread(bizbus, stack, "xref", ident)
        assert result.returncode == 0, result.stderr
        assert f"trip:{code}: erp={row['id']}, oa={code}" in result.stdout
    unknown = await asyncio.to_thread(bizbus, stack, "xref", "no-such-record")
    assert unknown.returncode == 1 and "No cross-reference mentions" in unknown.stdout


async def test_the_same_events_delivered_twice_have_one_effect(
    stack: FlowStack, erp: ErpUser
) -> None:
    code = state["code"]
    deliveries = (await control(stack, "oa", "GET", f"/_sandbox/deliveries?instance_code={code}"))[
        "deliveries"
    ]
    approved = [d for d in deliveries if d["event"].get("event", {}).get("status") == "APPROVED"]
    assert len(approved) == 2 and all(d["status"] == "delivered" for d in approved)
    assert len({d["event"]["uuid"] for d in approved}) == 1  # one event, two deliveries

    # Replay what the worker already handled: the raw OA records and the ERP commands.
    for logical in (RAW_TOPIC, CMD_TOPIC):
        replayed = await records_of(stack, logical, code)
        assert replayed, f"nothing on {logical} for the trip"
        await stack.send(logical, *((r.key, r.value, list(r.headers)) for r in replayed))
    for logical in (RAW_TOPIC, CMD_TOPIC):
        await stack.wait_for(
            partial(caught_up, stack, logical),
            what=f"the worker handling the replayed {logical}", timeout_s=30,
        )  # fmt: skip
    assert len(await leave_effects(stack, code)) == state["effects"]
    leave = await leave_of(erp, code)
    assert leave is not None and leave["state"] == "validate"


async def test_a_revoked_trip_is_refused_in_the_erp_once(stack: FlowStack, erp: ErpUser) -> None:
    code = state["code"]
    await control(stack, "oa", "POST", "/_sandbox/instances/revert",
                  json={"instance_code": code, "comment": "展会延期"})  # fmt: skip

    async def refused() -> bool:
        leave = await leave_of(erp, code)
        return bool(leave and leave["state"] == "refuse")

    await stack.wait_for(refused, what="the revoked trip refused in the ERP", timeout_s=30)
    effects = await leave_effects(stack, code)
    actions = [e["action"] for e in effects[state["effects"] :]]
    assert actions.count("action_refuse") == 1, actions
    state["effects"] = len(effects)

    async def recorded() -> list[Envelope[BusinessTripRecordedV1]] | None:
        found = [decode_record(r.value, r.headers, keys=stack.keys)
                 for r in await records_of(stack, "biz.hr.business-trip", code)]  # fmt: skip
        return found if len(found) >= 2 else None

    events = await stack.wait_for(recorded, what="both business-trip records", timeout_s=20)
    assert [e.data.state for e in events] == ["confirmed", "cancelled"]
    assert {e.correlationid for e in events} == {correlation_id("oa-instance", code)}


async def test_a_trip_approved_while_the_webhook_was_away_is_caught_up(
    stack: FlowStack, erp: ErpUser, oa: OaUser
) -> None:
    stack.stop_worker()
    await control(stack, "oa", "DELETE", "/_sandbox/callbacks")
    # HR numbers this employee differently from the OA: the trip must find her by e-mail.
    [row] = await erp.search_read("hr.employee", [["barcode", "=", LATE_TRAVELLER.number]], ["id"])
    await erp.execute("hr.employee", "write", [row["id"]], {"barcode": "HR-0005"})
    code = await file_and_approve(oa, LATE_TRAVELLER.oa_user_id, "宁波", date(2026, 12, 14))
    deliveries = (await control(stack, "oa", "GET", f"/_sandbox/deliveries?instance_code={code}"))[
        "deliveries"
    ]
    assert deliveries == []

    stack.extra_env["BIZBUS_OA_POLL_INTERVAL_S"] = "1"
    stack.start_worker()

    async def validated() -> dict[str, Any] | None:
        leave = await leave_of(erp, code)
        return leave if leave and leave["state"] == "validate" else None

    leave = await stack.wait_for(validated, what="the caught-up trip in the ERP", timeout_s=45)
    assert leave["employee_id"][0] == row["id"]
    assert leave["x_destination"] == "宁波"
    assert [e["action"] for e in await leave_effects(stack, code)].count("create") == 1
    # The catch-up re-read the revoked trip too: nothing was written for it.
    assert len(await leave_effects(stack, state["code"])) == state["effects"]
