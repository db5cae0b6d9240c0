"""The worker's web surface, over real sockets: closed views, a bounded body, no replays.

One stack (CRM, ERP and OA sandboxes; a worker running `travel` and `orders`, so it serves the
webhook, readiness and the parked-orders view). A replayed callback is one we sign ourselves with
the OA's real Encrypt Key, as a captured genuine Feishu callback would be signed.
"""

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from bizbus.deploy.chaos.webhooks import published_id, signed_callback
from bizbus.deploy.demo.worker import WorkerProcess
from bizbus.deploy.kafka.cluster import free_ports
from tests.integration.flowstack import ROOT, WEB_TOKEN, FlowStack

WEBHOOK = "/webhooks/feishu"
RAW_TOPIC = "src.oa.approval-instance"
LIMIT = 1024 * 1024  # BIZBUS_WEBHOOK_MAX_BODY_BYTES's default


@pytest.fixture(scope="module")
def stack(flow_stack_factory: Any) -> Iterator[FlowStack]:
    started: FlowStack = flow_stack_factory(
        flows="travel,orders", worker_env={"BIZBUS_OA_POLL_INTERVAL_S": "3600"}
    )
    yield started


async def test_faust_views_are_gone_and_bizbus_views_need_the_token(stack: FlowStack) -> None:
    async with httpx.AsyncClient(base_url=stack.worker_url, timeout=10) as http:
        for path in ("/", "/router/", "/table/", "/table/xref/", "/table/xref/order:801A/",
                     "/graph/", "/stats/", "/assignment/", "/performance/"):  # fmt: skip
            assert (await http.get(path)).status_code == 404, path
        assert (await http.get("/bizbus/parked-orders/")).status_code == 401
        wrong = {"Authorization": "Bearer not-the-token"}
        assert (await http.get("/bizbus/parked-orders/", headers=wrong)).status_code == 401
        bare = await http.get("/bizbus/ready/")
        assert bare.status_code == 200 and bare.json() == {"ready": True}
    async with stack.web() as http:
        assert (await http.get("/bizbus/parked-orders/")).status_code == 200
        assert (await http.get("/table/xref/")).status_code == 404  # the token opens no more
        details = (await http.get("/bizbus/ready/")).json()
        assert details["ready"] is True and "poll_passes" in details


async def status_line(reader: asyncio.StreamReader) -> int:
    line = await reader.readline()
    return int(line.split()[1])


async def test_a_2mb_body_is_refused_with_413_before_it_is_sent(stack: FlowStack) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", stack.web_port)
    try:
        writer.write(
            f"POST {WEBHOOK} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {2 * LIMIT}\r\n\r\n".encode()
            + b'{"encrypt": "'
        )  # the headers and 13 bytes; the other 2 MB never come
        await writer.drain()
        async with asyncio.timeout(30):  # a hang guard, not a timing: the body is never sent
            assert await status_line(reader) == 413
    finally:
        writer.close()


async def test_a_streamed_body_is_cut_off_at_the_limit(stack: FlowStack) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", stack.web_port)
    chunk = b"x" * 65536
    try:
        writer.write(
            f"POST {WEBHOOK} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
            "\r\n".encode()
        )
        for _ in range(LIMIT // len(chunk) + 2):  # just past the limit, and no final chunk
            writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            await writer.drain()
        async with asyncio.timeout(30):
            assert await status_line(reader) == 413
    finally:
        writer.close()


async def published(stack: FlowStack, event_id: str) -> int:
    """How many records of the raw OA topic carry the raw event id of callback `event_id`."""
    consumer = AIOKafkaConsumer(
        stack.topic(RAW_TOPIC), bootstrap_servers=stack.kafka_bootstrap,
        auto_offset_reset="earliest", enable_auto_commit=False,
    )  # fmt: skip
    found = 0
    await consumer.start()
    try:
        async with asyncio.timeout(30):
            while not consumer.assignment():
                await consumer.getmany(timeout_ms=200)
            ends = await consumer.end_offsets(list(consumer.assignment()))
            for tp, end in ends.items():
                while await consumer.position(tp) < end:
                    batch = await consumer.getmany(tp, timeout_ms=500)
                    found += sum(
                        1
                        for records in batch.values()
                        for r in records
                        if dict(r.headers).get("ce_id") == event_id.encode()
                    )
        return found
    finally:
        await consumer.stop()


async def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    async with httpx.AsyncClient(timeout=10) as http:
        return (await http.post(url + WEBHOOK, content=body, headers=headers)).status_code


async def test_a_replayed_callback_publishes_nothing_on_another_worker_or_after_a_restart(
    stack: FlowStack,
) -> None:
    code, feishu_id = f"INST-{uuid.uuid4().hex[:12]}", uuid.uuid4().hex
    raw_id = published_id(code, feishu_id)
    body, headers = signed_callback(code, feishu_id)  # as a captured genuine one
    assert await post(stack.worker_url, body, headers) == 200
    assert await published(stack, raw_id) == 1  # answered only once acked: no wait needed

    port = free_ports(1)[0]
    other = WorkerProcess(
        {**stack.worker_env(), "BIZBUS_WEB_PORT": str(port)},
        stack.run_dir / "other-worker.log",
        cwd=ROOT,
    )
    try:
        other.start(timeout_s=90)
        assert await post(f"http://127.0.0.1:{port}", body, headers) == 200  # a duplicate
        assert await published(stack, raw_id) == 1
    finally:
        other.stop()

    stack.stop_worker()
    stack.start_worker()
    assert await post(stack.worker_url, body, headers) == 200
    assert await published(stack, raw_id) == 1
    bearer = {"Authorization": f"Bearer {WEB_TOKEN}"}
    async with httpx.AsyncClient(base_url=stack.worker_url, headers=bearer) as http:
        assert (await http.get("/bizbus/ready/")).json()["ready"] is True
