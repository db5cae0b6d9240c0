"""Sandbox DingTalk's Stream mode over real sockets with DingTalk's official dingtalk-stream SDK.

The SDK opens a connection at the gateway (`/v1.0/gateway/connections/open`), receives the
approval events over the WebSocket and ACKs them; an event not acknowledged with 200 comes
again with the same eventId.
"""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import dingtalk_stream
import httpx
import pytest
from dingtalk_stream import AckMessage, ChatbotMessage, EventHandler, EventMessage

from bizbus.deploy.sandbox.dingtalk.seed import userid_of
from bizbus.deploy.sandbox.dingtalk.staff import DingTalkStaff
from bizbus.deploy.sandbox.registry import SYSTEMS

CREDENTIALS = SYSTEMS["dingtalk"].credentials
assert ChatbotMessage  # the SDK's public surface imports cleanly


class Recorder(EventHandler):  # type: ignore[misc]  # the SDK ships no types
    """Records every event; refuses (500) the first delivery of each event id once."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[EventMessage] = []
        self.refused: set[str] = set()

    async def process(self, event: EventMessage) -> tuple[int, str]:
        self.events.append(event)
        if event.data.get("type") == "finish" and event.headers.event_id not in self.refused:
            self.refused.add(event.headers.event_id)
            return AckMessage.STATUS_SYSTEM_EXCEPTION, "busy"
        return AckMessage.STATUS_OK, "OK"


@pytest.fixture
async def streaming(dingtalk_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Recorder]:
    monkeypatch.setattr(
        dingtalk_stream.DingTalkStreamClient, "OPEN_CONNECTION_API",
        dingtalk_url + "/v1.0/gateway/connections/open",
    )  # fmt: skip
    credential = dingtalk_stream.Credential(CREDENTIALS["app_key"], CREDENTIALS["app_secret"])
    client = dingtalk_stream.DingTalkStreamClient(credential)
    recorder = Recorder()
    client.register_all_event_handler(recorder)
    task = asyncio.create_task(client.start())
    try:
        yield recorder
    finally:
        # The SDK's loop takes a cancel for a network error and reconnects: cancel again.
        while not task.done():
            task.cancel()
            await asyncio.wait([task], timeout=1)
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def wait_for(probe: Any, what: str, timeout_s: float = 30) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = await probe()
        if found:
            return found
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


async def test_approval_events_arrive_over_the_stream_and_a_refused_one_comes_again(
    dingtalk_url: str, streaming: Recorder
) -> None:
    async with httpx.AsyncClient(base_url=dingtalk_url, timeout=10) as http:

        async def connected() -> bool:  # the gateway issued a ticket, the socket is open
            answer = (await http.get("/_sandbox/stream/deliveries")).json()
            return bool(answer["connections"])

        await wait_for(connected, "the stream client")
        async with DingTalkStaff(dingtalk_url) as staff:
            code = await staff.file_trip(
                userid_of("E1003"), destination="杭州", start=date(2026, 12, 21), days=1,
                purpose="客户拜访",
            )  # fmt: skip
            await staff.decide(code)

        async def both_delivered() -> list[dict[str, Any]] | None:
            rows = (await http.get("/_sandbox/stream/deliveries")).json()["deliveries"]
            mine = [row for row in rows if row["instance_id"] == code]
            done = [row for row in mine if row["status"] == "delivered"]
            return mine if len(done) == 2 else None

        rows = await wait_for(both_delivered, "both events acknowledged")
    assert [(row["kind"], row["acks"]) for row in rows] == [
        ("start", ["SUCCESS"]), ("finish", ["code 500", "SUCCESS"]),
    ]  # fmt: skip
    mine = [e for e in streaming.events if e.data.get("processInstanceId") == code]
    assert [e.data["type"] for e in mine] == ["start", "finish", "finish"]
    assert mine[1].headers.event_id == mine[2].headers.event_id  # the same event, again
    assert mine[1].headers.message_id != mine[2].headers.message_id
    finish = mine[2]
    assert finish.headers.event_type == "bpms_instance_change"
    assert finish.headers.event_born_time and finish.headers.event_corp_id
    assert finish.data["result"] == "agree" and finish.data["processCode"].startswith("PROC-")
