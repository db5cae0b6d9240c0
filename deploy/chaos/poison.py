"""R5: malformed records on every source topic and garbage on the webhook, among valid orders.

hypothesis generates the bad inputs: bad JSON, invalid UTF-8, schema-invalid values (random
objects, and real records with a required field broken), oversized values, real values with
their `ce_*` headers stripped, and null keys. Meanwhile real orders are placed in the CRM.
Targets: every bad record is found in a dead-letter topic with a reason, matched by the source
topic, partition and offset its dead-letter headers name; every webhook request gets a 4xx;
every valid order reaches the ERP once; no dead letter of anything else; crashes 0.
"""

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from bizbus.deploy.chaos import verify
from bizbus.deploy.chaos.orders import OrderDesk, settle_in_erp
from bizbus.deploy.chaos.report import ScenarioResult
from bizbus.deploy.chaos.stack import ChaosStack, Progress
from bizbus.flows.runtime import deadletter as dl
from bizbus.flows.runtime.kafka_config import producer
from bizbus.flows.travel.webhooks import FEISHU_WEBHOOK_PATH

__all__ = ["SOURCES", "PoisonPlan", "bad_records", "run_poison"]

SOURCES = ("src.crm.order", "src.crm.account", "src.erp.sale-order", "src.oa.approval-instance")
OVERSIZED_BYTES = 600_000  # under the broker's 1 MB record limit, so its dead letter fits too
Headers = list[tuple[str, bytes]]
CONTENT_TYPES = ["application/json", "text/plain"]


@dataclass(frozen=True)
class PoisonPlan:
    """How many bad records, valid orders and garbage webhook requests."""

    bad: int
    good: int
    webhooks: int
    seed: int


@dataclass(frozen=True)
class Bad:
    """One malformed record: what kind, and what is sent."""

    kind: str
    key: bytes | None
    value: bytes
    headers: Headers


def _key() -> bytes:
    return f"chaos-poison:{uuid.uuid4().hex}".encode()


def _broken(template: dict[str, Any], how: int, junk: str) -> dict[str, Any]:
    """Return a real record's value with a required field broken (never valid again)."""
    value = dict(template)
    body = value["data"] if isinstance(value.get("data"), dict) else value
    body = dict(body)
    if how == 0:
        body["system"] = "not-a-system:" + junk
    elif how == 1:
        body["record_id"] = ""
    else:
        body.pop("modified_at", None)
    return {**value, "data": body} if isinstance(value.get("data"), dict) else body


def bad_strategy(templates: list[tuple[bytes, Headers]]) -> st.SearchStrategy[Bad]:
    """Return a strategy of malformed records, using real records of the topic when it has some."""
    text = st.text(max_size=200)
    scalars = st.one_of(st.integers(-(2**53), 2**53), text, st.none())  # JSON-safe integers
    junk_object = st.dictionaries(st.text(max_size=20), scalars, max_size=8)
    ce = [("ce_specversion", b"1.0"), ("ce_type", b"bizbus.integration.source-record.captured.v1"),
          ("ce_id", b"chaos"), ("ce_source", b"chaos")]  # fmt: skip
    kinds: list[st.SearchStrategy[Bad]] = [
        text.map(lambda t: Bad("bad JSON", _key(), b"{" + t.encode() + b",]", ce)),
        st.binary(max_size=200).map(
            lambda b: Bad("invalid UTF-8", _key(), b'{"record_id": "' + b + b'\xff\xfe"}', ce)
        ),
        junk_object.map(
            lambda d: Bad("schema-invalid", _key(), orjson.dumps({**d, "modified_at": []}), ce)
        ),
        st.integers(1, 3).map(
            lambda n: Bad(
                "oversized", _key(), b'{"pad": "' + b"x" * (OVERSIZED_BYTES * n // 3) + b'"}', ce
            )
        ),
    ]
    if templates:
        # An index, not sampled_from(templates): hypothesis would repr every template.
        pick = st.integers(0, len(templates) - 1).map(templates.__getitem__)
        kinds += [
            st.tuples(pick, st.integers(0, 2), text).map(
                lambda a: Bad(
                    "schema-invalid",
                    _key(),
                    orjson.dumps(_broken(orjson.loads(a[0][0]), a[1], a[2])),
                    a[0][1],
                )
            ),
            pick.map(
                lambda t: Bad(
                    "missing headers", _key(), t[0], [h for h in t[1] if not h[0].startswith("ce_")]
                )
            ),
            st.tuples(pick, st.integers(0, 2)).map(
                lambda a: Bad(
                    "null key",
                    None,
                    orjson.dumps(_broken(orjson.loads(a[0][0]), a[1], "")),
                    a[0][1],
                )
            ),
        ]
    return st.one_of(kinds)


def generate(strategy: st.SearchStrategy[Any], count: int, seed: int) -> list[Any]:
    """Draw `count` examples from `strategy` with hypothesis's own engine (seeded)."""
    found: list[Any] = []

    @settings(max_examples=count, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(strategy)
    def draw(example: Any) -> None:
        found.append(example)

    while len(found) < count:
        before = len(found)
        hypothesis_seed(seed + len(found))(draw)()
        if len(found) == before:
            break
    return found[:count]


def bad_records(templates: list[tuple[bytes, Headers]], count: int, seed: int) -> list[Bad]:
    """Return `count` malformed records for one topic (at most 5 oversized ones)."""
    drawn = generate(bad_strategy(templates), count * 2, seed)
    oversized = [b for b in drawn if b.kind == "oversized"][:5]
    return ([b for b in drawn if b.kind != "oversized"][: count - len(oversized)] + oversized)[
        :count
    ]


async def _templates(stack: ChaosStack, topic: str) -> list[tuple[bytes, Headers]]:
    records = await verify.read_records(stack.kafka, [stack.topic(topic)])
    return [(r.value, list(r.headers)) for r in records[:50] if r.value]


async def _send(stack: ChaosStack, topic: str, bad: list[Bad]) -> dict[tuple[str, int, int], str]:
    """Produce the bad records; return (topic, partition, offset) → kind of each."""
    sender = producer(stack.kafka, acks="all", max_request_size=2 * OVERSIZED_BYTES)
    await sender.start()
    try:
        futures = [await sender.send(stack.topic(topic), b.value, key=b.key, headers=b.headers)
                   for b in bad]  # fmt: skip
        sent = await asyncio.gather(*futures)
    finally:
        await sender.stop()
    return {(m.topic, m.partition, m.offset): b.kind for m, b in zip(sent, bad, strict=True)}


async def _webhook_garbage(url: str, count: int, seed: int) -> list[int]:
    """POST hypothesis-made bodies and Feishu-looking headers; return the statuses."""
    header_values = st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=40)
    requests = st.tuples(
        st.one_of(st.binary(max_size=2000), st.text(max_size=500).map(str.encode),
                  st.dictionaries(st.text(max_size=10), st.text(max_size=50)).map(orjson.dumps)),
        st.fixed_dictionaries({}, optional={"X-Lark-Request-Timestamp": header_values,
                                            "X-Lark-Request-Nonce": header_values,
                                            "X-Lark-Signature": header_values,
                                            "Content-Type": st.sampled_from(CONTENT_TYPES)}),
    )  # fmt: skip
    statuses = []
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        for body, headers in generate(requests, count, seed):
            statuses.append(
                (await http.post(FEISHU_WEBHOOK_PATH, content=body, headers=headers)).status_code
            )
    return statuses


async def run_poison(stack: ChaosStack, plan: PoisonPlan, progress: Progress) -> ScenarioResult:
    """Inject the bad records and requests among valid orders; count from Kafka and the ERP."""
    result = ScenarioResult("R5", "poison records and webhook garbage")
    dead_before = await verify.dead_letters(stack.kafka, stack.prefix)
    desk = await OrderDesk(stack.urls["crm"], stack.urls["erp"]).open(stack.wait_for)
    sent: dict[tuple[str, int, int], str] = {}
    ours = 0
    try:
        placing = asyncio.create_task(desk.place(plan.good, per_s=5))
        for number, topic in enumerate(SOURCES):
            bad = bad_records(
                await _templates(stack, topic), plan.bad // len(SOURCES), plan.seed + number
            )
            progress(f"R5: {len(bad)} bad records into {topic}")
            sent |= await _send(stack, topic, bad)
        progress(f"R5: {plan.webhooks} garbage webhook requests")
        statuses = await _webhook_garbage(stack.running()[0].url, plan.webhooks, plan.seed)
        good = await placing
        result.n = len(sent) + len(statuses) + len(good)
        result.zeros["webhook answers not 4xx"] = sum(not 400 <= s < 500 for s in statuses)

        async def sources() -> list[tuple[str, int, int]]:
            """Return the source place each dead letter of the run names (one per dead letter)."""
            names = await verify.run_topics(stack.kafka, stack.prefix, stack.app_id)
            records = await verify.read_records(
                stack.kafka, [t for t in names if t.endswith(dl.DLQ_SUFFIX)]
            )
            return [
                (h[dl.SOURCE_TOPIC].decode(), int(h[dl.SOURCE_PARTITION]), int(h[dl.SOURCE_OFFSET]))
                for h in (dict(r.headers) for r in records)
                if h.get(dl.REASON) and dl.SOURCE_OFFSET in h
            ]

        async def all_dead_lettered() -> bool:
            missing = len(set(sent) - set(await sources()))
            progress(f"R5: {len(sent) - missing}/{len(sent)} bad records dead-lettered")
            return not missing

        try:
            await stack.wait_for(all_dead_lettered, what="every bad record dead-lettered",
                                 timeout_s=120 + len(sent) / 10, interval_s=2)  # fmt: skip
        finally:
            places = await sources()
            missed = set(sent) - set(places)
            result.zeros["bad records not dead-lettered"] = len(missed)
            kinds = sorted({sent[m] for m in missed})
            result.note = f"missed kinds: {', '.join(kinds)}" if kinds else ""
            ours = sum(place in sent for place in places)

        counts = await settle_in_erp(stack, good, label="R5 valid", progress=progress,
                                     timeout_s=120)  # fmt: skip
        result.lost, result.duplicated = counts.lost, counts.duplicated
    finally:
        await desk.close(placing)
    dead = await verify.dead_letters(stack.kafka, stack.prefix) - dead_before
    result.dead_lettered = dead - ours  # dead letters of anything but the bad records
    result.figures["bad records"] = len(sent)
    result.figures["their dead letters"] = ours
    result.crashes = stack.count_crashes()
    return result
