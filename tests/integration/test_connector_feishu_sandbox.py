"""FeishuConnector against the sandbox OA over real sockets: push, detail, users, catch-up.

A real receiver (uvicorn + starlette on a free loopback port, in the test's event loop) calls
``FeishuWebhookReceiver.handle`` for each request the sandbox pushes.
"""

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bizbus.connectors.base import Cursor, SourceRecord
from bizbus.connectors.feishu import (
    INSTANCE_ENTITY,
    TRIP_ENTITY,
    USER_NOT_VISIBLE,
    FeishuConnector,
    FeishuRejected,
    FeishuSettings,
    FeishuUser,
    FeishuWebhookReceiver,
    parse_trip,
    parse_trip_event,
)
from bizbus.connectors.settings import load_settings
from bizbus.deploy.sandbox.registry import SYSTEMS

CREDENTIALS = SYSTEMS["oa"].credentials
TRAVEL = "7C468A54-8745-2245-9675-08B7C63E7A85"
APPLICANT = "f8ca557e"  # 张伟 E1001, whose leader 王建国 E1000 (5d9bd9a1) approves
LEADER = "5d9bd9a1"
TASKS = "/open-apis/approval/v4/tasks"
INSTANCES = "/open-apis/approval/v4/instances"


def oa_settings(oa_url: str, **values: Any) -> FeishuSettings:
    secrets = {k: CREDENTIALS[k] for k in ("app_secret", "encrypt_key", "verification_token")}
    return load_settings(
        FeishuSettings,
        **{"base_url": oa_url, "app_id": CREDENTIALS["app_id"], "approval_codes": TRAVEL,
           **secrets, **values},
    )  # fmt: skip


def trip_form(destination: str) -> list[dict[str, Any]]:
    return [
        {"id": "widget_trip", "type": "tripGroup", "value": {"schedule": [
            {"start": "2024-09-24T08:00:00+08:00", "end": "2024-09-27T20:00:00+08:00",
             "departure": "苏州", "destination": destination, "transportation": "高铁",
             "oneRound": "往返"}], "reason": "中国国际工业博览会"}},
        {"id": "widget_purpose", "type": "textarea", "value": "展会接待客户, 收集名片"},
    ]  # fmt: skip


async def file_trip(oa: FeishuConnector, key: str, destination: str = "上海") -> str:
    """The applicant files a travel request (bizbus itself never creates instances)."""
    body = {"approval_code": TRAVEL, "user_id": APPLICANT, "uuid": key,
            "form": orjson.dumps(trip_form(destination)).decode()}  # fmt: skip
    data = await oa.call("POST", INSTANCES, params={"user_id_type": "user_id"}, json=body)
    code: str = data["instance_code"]
    return code


async def approve(oa: FeishuConnector, instance_code: str) -> None:
    detail = await oa.fetch_detail(instance_code)
    [task] = [t for t in detail.tasks if t.get("status") == "PENDING"]
    body = {"approval_code": TRAVEL, "instance_code": instance_code, "user_id": task["user_id"],
            "task_id": task["id"], "comment": "同意"}  # fmt: skip
    await oa.call("POST", f"{TASKS}/approve", params={"user_id_type": "user_id"}, json=body)


@dataclass
class Endpoint:
    """A Feishu request URL on loopback: hands each request to the receiver."""

    receiver: FeishuWebhookReceiver
    url: str = ""
    records: list[SourceRecord] = field(default_factory=list)
    replies: list[tuple[int, str | None]] = field(default_factory=list)
    lose_answer: Callable[[SourceRecord], bool] = lambda record: False

    async def handle(self, request: Request) -> Response:
        reply = await self.receiver.handle(await request.body(), request.headers)
        self.replies.append((reply.status, reply.reason))
        self.records.extend(reply.records)
        if any(self.lose_answer(r) for r in reply.records):
            # The event was taken, but the answer is lost on the way: Feishu sends it again.
            self.lose_answer = lambda record: False
            return Response(b"{}", status_code=500)
        return Response(reply.body, status_code=reply.status, media_type=reply.content_type)

    async def wait_for(
        self, match: Callable[[SourceRecord], bool], *, timeout_s: float = 10.0
    ) -> SourceRecord:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = [r for r in self.records if match(r)]
            if found:
                return found[0]
            await asyncio.sleep(0.05)
        raise AssertionError(f"no matching record within {timeout_s} s: {self.records}")


@pytest.fixture
async def control(oa_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=oa_url, timeout=10, trust_env=False) as client:
        before = (await client.get("/_sandbox/delivery")).json()
        await client.post("/_sandbox/delivery", json={"retry_base_s": 0.1, "retry_factor": 1.0,
                                                      "max_attempts": 5})  # fmt: skip
        try:
            yield client
        finally:
            await client.delete("/_sandbox/callbacks")
            await client.delete("/_sandbox/faults")
            await client.post("/_sandbox/delivery", json=before)  # the OA is shared by modules


@pytest.fixture
async def oa(oa_url: str) -> AsyncIterator[FeishuConnector]:
    async with FeishuConnector(oa_settings(oa_url)) as connector:
        await connector.subscribe_all()
        yield connector


@pytest.fixture
async def endpoint(oa: FeishuConnector) -> AsyncIterator[Endpoint]:
    endpoint = Endpoint(oa.receiver)
    app = Starlette(routes=[Route("/feishu/events", endpoint.handle, methods=["POST"])])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    endpoint.url = f"http://127.0.0.1:{sock.getsockname()[1]}/feishu/events"
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(5):
            while not server.started:  # noqa: ASYNC110 - uvicorn sets a flag, no event
                await asyncio.sleep(0.01)
        yield endpoint
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=5)
        sock.close()


async def register(control: httpx.AsyncClient, endpoint: Endpoint) -> None:
    answer = await control.post("/_sandbox/callbacks", json={"url": endpoint.url})
    assert answer.status_code == 201, answer.text


async def delivered(
    control: httpx.AsyncClient, code: str, status: str, *, timeout_s: float = 10.0
) -> dict[str, Any]:
    """The sandbox's delivery of ``code``'s ``status`` event, once it stopped retrying."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        answer = await control.get("/_sandbox/deliveries", params={"instance_code": code})
        for row in answer.json()["deliveries"]:
            if row["event"].get("event", {}).get("status") == status and row["status"] != "pending":
                return dict(row)
        await asyncio.sleep(0.05)
    raise AssertionError(f"the {status} event of {code} is still pending after {timeout_s} s")


async def test_the_challenge_is_answered_and_the_url_registered(
    control: httpx.AsyncClient, endpoint: Endpoint
) -> None:
    await register(control, endpoint)
    assert endpoint.replies == [(200, "challenge")]
    callbacks = (await control.get("/_sandbox/callbacks")).json()["callbacks"]
    assert [c["url"] for c in callbacks] == [endpoint.url]


async def test_an_approved_trip_arrives_once_and_its_detail_parses(
    oa: FeishuConnector, control: httpx.AsyncClient, endpoint: Endpoint
) -> None:
    await register(control, endpoint)
    key = f"trip-{uuid.uuid4()}"
    code = await file_trip(oa, key, "上海")

    def of(status: str) -> Callable[[SourceRecord], bool]:
        return lambda r: r.id == code and r.payload.get("status") == status

    endpoint.lose_answer = of("APPROVED")
    await endpoint.wait_for(of("PENDING"))
    await approve(oa, code)
    approved = await endpoint.wait_for(of("APPROVED"))
    trip_record = await endpoint.wait_for(lambda r: r.id == code and r.entity == TRIP_ENTITY)

    # The APPROVED answer was lost once, so the sandbox delivered it again: dropped here.
    pushed = await delivered(control, code, "APPROVED")
    assert [a["http_status"] for a in pushed["attempt_log"]] == [500, 200]
    mine = [r for r in endpoint.records if r.id == code]
    assert sorted((r.entity, r.payload.get("status")) for r in mine) == [
        (INSTANCE_ENTITY, "APPROVED"), (INSTANCE_ENTITY, "PENDING"), (TRIP_ENTITY, None),
    ]  # fmt: skip
    assert (200, "duplicate") in endpoint.replies

    assert approved.cursor.id == code and approved.cursor.modified.tzinfo is not None
    detail = await oa.detail_of(approved)
    assert detail.status == "APPROVED" and detail.uuid == key
    trip = parse_trip(detail)
    assert trip.applicant_user_id == APPLICANT and trip.approved_by == (LEADER,)
    assert trip.destinations == ("上海",) and trip.purpose == "展会接待客户, 收集名片"
    assert (str(trip.departure_date), str(trip.return_date)) == ("2024-09-24", "2024-09-27")
    pushed_trip = parse_trip_event(trip_record.payload)
    assert pushed_trip.legs == trip.legs and pushed_trip.purpose == "中国国际工业博览会"


async def test_catch_up_finds_instances_changed_while_no_receiver_listened(
    oa: FeishuConnector, control: httpx.AsyncClient
) -> None:
    await control.delete("/_sandbox/callbacks")  # the outage: nobody receives events
    before = datetime.now(UTC) - timedelta(seconds=2)
    approved = await file_trip(oa, f"trip-{uuid.uuid4()}", "杭州")
    pending = await file_trip(oa, f"trip-{uuid.uuid4()}", "南京")
    await approve(oa, approved)

    found = [r async for r in oa.changes("approval_instance", Cursor(before, ""))]
    mine = {r.id: r for r in found if r.id in {approved, pending}}
    assert mine[approved].payload["status"] == "APPROVED"
    assert mine[pending].payload["status"] == "PENDING"
    assert [r.cursor for r in found] == sorted(r.cursor for r in found)
    trip = parse_trip(await oa.detail_of(mine[approved]))
    assert trip.destinations == ("杭州",)

    # Resuming from the last cursor repeats nothing new; a later approval moves it forward.
    last = found[-1].cursor
    await approve(oa, pending)
    again = [r async for r in oa.changes("approval_instance", last)]
    assert [(r.id, r.payload["status"]) for r in again if r.cursor > last] == [
        (pending, "APPROVED")
    ]


async def test_get_user_resolves_the_applicant_and_their_leader(oa_url: str) -> None:
    async with FeishuConnector(oa_settings(oa_url)) as oa:
        applicant = await oa.get_user(APPLICANT)
        leader = await oa.get_user(LEADER)
        assert applicant == FeishuUser(
            user_id=APPLICANT, open_id=applicant.open_id, name="张伟",
            email="zhang.wei@hengli-demo.cn", employee_no="E1001", leader_user_id=LEADER,
        )  # fmt: skip
        assert (leader.name, leader.employee_no, leader.leader_user_id) == ("王建国", "E1000", None)
        assert applicant.open_id is not None and applicant.open_id.startswith("ou_")
        by_open_id = await oa.get_user(applicant.open_id, id_type="open_id")
        assert by_open_id.employee_no == "E1001" and by_open_id.leader_user_id == leader.open_id
        with pytest.raises(FeishuRejected) as caught:
            await oa.get_user("00000000")
        assert caught.value.code == USER_NOT_VISIBLE
