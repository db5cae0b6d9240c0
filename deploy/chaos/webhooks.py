"""S1: forged, stale, replayed, oversized and garbage Feishu callbacks against the worker group.

A genuine callback is one we encrypt and sign with the OA's real Encrypt Key, as a captured
Feishu callback would be (status PENDING, so nothing downstream calls the ERP). Replays go to
the same worker, to another worker of the group, and to the first worker after a restart.
Oversized requests announce 2 MB and send only their headers: the answer must be 413 without
the body. Targets, counted on the raw OA topic by event id: 0 records from forged, stale or
garbage requests, exactly 1 per genuine callback however often replayed, 0 oversized answers
other than 413, 0 forged or stale requests answered 2xx. Figure: a genuine callback's latency
before and after the flood (medians).
"""

import asyncio
import statistics
import time
import uuid
from collections import Counter
from dataclasses import dataclass

import httpx
import orjson

from bizbus.deploy.chaos import verify
from bizbus.deploy.chaos.report import ScenarioResult
from bizbus.deploy.chaos.stack import ChaosStack, Progress
from bizbus.deploy.sandbox.oa.crypto import encrypt, sign
from bizbus.deploy.sandbox.oa.seed import TRAVEL_APPROVAL_CODE
from bizbus.deploy.sandbox.registry import SYSTEMS
from bizbus.flows.runtime.polling import correlation_id
from bizbus.flows.travel.webhooks import FEISHU_WEBHOOK_PATH, OA_INSTANCE_TOPIC

__all__ = ["WebhookPlan", "published_id", "run_webhooks", "signed_callback"]

OVERSIZED_BYTES = 2 * 1024 * 1024
LATENCY_SAMPLES = 5


@dataclass(frozen=True)
class WebhookPlan:
    """How many requests of each bad kind, and whether to replay after a restart."""

    each: int
    restart: bool


def signed_callback(
    instance_code: str, event_id: str, *, age_s: float = 0.0, key: str | None = None
) -> tuple[bytes, dict[str, str]]:
    """Return a Feishu callback encrypted and signed with `key` (default: the OA's real key)."""
    oa = SYSTEMS["oa"].credentials
    now = time.time() - age_s
    event = {
        "uuid": event_id, "token": oa["verification_token"], "ts": f"{now:.7f}",
        "type": "event_callback",
        "event": {"app_id": oa["app_id"], "tenant_key": "t", "type": "approval_instance",
                  "approval_code": TRAVEL_APPROVAL_CODE, "instance_code": instance_code,
                  "status": "PENDING", "operate_time": str(int(now * 1000))},
    }  # fmt: skip
    encrypt_key = key or oa["encrypt_key"]
    body = orjson.dumps({"encrypt": encrypt(encrypt_key, orjson.dumps(event).decode())})
    stamp, nonce = str(int(now)), uuid.uuid4().hex[:16]
    return body, {
        "Content-Type": "application/json",
        "X-Lark-Request-Timestamp": stamp,
        "X-Lark-Request-Nonce": nonce,
        "X-Lark-Signature": sign(stamp, nonce, encrypt_key, body),
    }


def published_id(instance_code: str, event_id: str) -> str:
    """Return the `ce_id` the worker gives the raw record of callback `event_id`."""
    return correlation_id("oa-callback", f"{event_id}:approval_instance:{instance_code}")


async def _oversized(port: int) -> int:
    """Announce a 2 MB body, send only the headers, and return the status line's code."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            f"POST {FEISHU_WEBHOOK_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/json\r\nContent-Length: {OVERSIZED_BYTES}\r\n\r\n".encode()
        )
        await writer.drain()
        async with asyncio.timeout(30):  # a hang guard: the body is never sent
            return int((await reader.readline()).split()[1])
    finally:
        writer.close()


class _Sender:
    """Callbacks sent, with the event ids they should (or should never) publish."""

    def __init__(self) -> None:
        self.genuine: list[str] = []  # published ids that must appear exactly once
        self.refused: list[str] = []  # published ids that must never appear

    @staticmethod
    async def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, float]:
        began = time.monotonic()
        async with httpx.AsyncClient(timeout=30) as http:
            status = (
                await http.post(url + FEISHU_WEBHOOK_PATH, content=body, headers=headers)
            ).status_code
        return status, time.monotonic() - began

    async def genuine_latency(self, url: str) -> float:
        """Send fresh genuine callbacks; return their median latency in ms."""
        took = []
        for _ in range(LATENCY_SAMPLES):
            code, event = f"CHAOS-{uuid.uuid4().hex[:12]}", uuid.uuid4().hex
            status, seconds = await self.post(url, *signed_callback(code, event))
            if status == 200:
                self.genuine.append(published_id(code, event))
            took.append(seconds * 1000)
        return statistics.median(took)


async def run_webhooks(stack: ChaosStack, plan: WebhookPlan, progress: Progress) -> ScenarioResult:
    """Flood the webhook with bad requests and replays; count what reached Kafka."""
    result = ScenarioResult("S1", "webhooks: forged, stale, replayed, oversized, garbage")
    first, other = stack.running()[0], stack.running()[-1]
    sender = _Sender()
    dead_before = await verify.dead_letters(stack.kafka, stack.prefix)
    result.figures["genuine p50 ms before"] = round(await sender.genuine_latency(first.url), 1)
    statuses: Counter[str] = Counter()
    progress(f"S1: {plan.each} forged, {plan.each} stale, {plan.each} garbage requests")
    for _ in range(plan.each):
        code, event = f"CHAOS-{uuid.uuid4().hex[:12]}", uuid.uuid4().hex
        forged = signed_callback(code, event, key="not-the-encrypt-key")
        stale_event = uuid.uuid4().hex
        stale = signed_callback(code, stale_event, age_s=600)
        sender.refused += [published_id(code, event), published_id(code, stale_event)]
        garbage = (uuid.uuid4().bytes * 8, forged[1])
        for kind, (body, headers) in (("forged", forged), ("stale", stale), ("garbage", garbage)):
            status, _ = await sender.post(first.url, body, headers)
            statuses[kind] += 200 <= status < 300
    result.zeros["forged/stale/garbage answered 2xx"] = sum(statuses.values())
    oversized = [await _oversized(first.port) for _ in range(min(plan.each, 5))]
    result.zeros["oversized not refused 413"] = sum(s != 413 for s in oversized)

    progress("S1: a genuine callback, replayed to the same worker, another, and after a restart")
    code, event = f"CHAOS-{uuid.uuid4().hex[:12]}", uuid.uuid4().hex
    body, headers = signed_callback(code, event)
    replays = [
        (await sender.post(url, body, headers))[0] for url in (first.url, first.url, other.url)
    ]
    if plan.restart:
        first.down = True
        await asyncio.to_thread(first.process.stop)
        await stack.restart(first)
        replays.append((await sender.post(first.url, body, headers))[0])
    sender.genuine.append(published_id(code, event))
    result.figures["replay answers"] = ",".join(map(str, replays))
    result.figures["genuine p50 ms after"] = round(await sender.genuine_latency(first.url), 1)

    records = await verify.read_records(stack.kafka, [stack.topic(OA_INSTANCE_TOPIC)])
    ids = Counter(dict(r.headers).get("ce_id", b"").decode() for r in records)
    result.zeros["published from forged/stale"] = sum(ids[i] for i in sender.refused)
    result.zeros["genuine not published exactly once"] = sum(ids[i] != 1 for i in sender.genuine)
    result.n = 3 * plan.each + len(oversized) + len(replays) + 2 * LATENCY_SAMPLES
    result.dead_lettered = await verify.dead_letters(stack.kafka, stack.prefix) - dead_before
    result.crashes = stack.count_crashes()
    return result
