"""ERP push mode end to end: sandbox ERP automation rule → worker webhook → poll → Kafka.

The sandbox ERP gets a "Send Webhook Notification" rule on `sale.order`, set up through
`execute_kw` as an Odoo admin would, posting to the worker's `/webhooks/odoo/<token>`. The
worker runs with `BIZBUS_ERP_MODE=push` and a one-hour safety poll: after its start-up catch-up,
an ERP feed is polled only on a hint. Calls are counted from the ERP sandbox's request log; the
CRM lead feed (still polled every 0.5 s) is the yardstick of the idle window, so nothing here
asserts a duration.
"""

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from bizbus.deploy.demo.actors import ErpUser
from bizbus.schemas import SourceRecordCapturedV1, decode_record
from tests.integration.flowstack import FlowStack
from tests.integration.test_api_economy import request_count
from tests.integration.test_flow_orders import read_topic

TOKEN = "erp-push-test-token-0123456789abcdef"  # noqa: S105 - a test value
FEED = "erp.sale-order"
YARDSTICK = "crm.lead"  # polled every 0.5 s in both modes
ERP_FEEDS = ("erp.sale-order", "erp.mrp-production", "erp.picking", "erp.invoice")
PASSES = 20


@pytest.fixture(scope="module")
def stack(flow_stack_factory: Any) -> Iterator[FlowStack]:
    started: FlowStack = flow_stack_factory(
        flows="fulfilment,leads", systems=("crm", "erp"),
        worker_env={
            "BIZBUS_ERP_MODE": "push", "BIZBUS_ERP_WEBHOOK_TOKEN": TOKEN,
            "BIZBUS_ERP_PUSH_SAFETY_POLL_S": "3600",
        },
    )  # fmt: skip
    yield started


@pytest.fixture(scope="module")
def rule(stack: FlowStack) -> int:
    """The automation rule an admin script creates: sale.order saved → webhook to bizbus."""
    return asyncio.run(add_rule(stack))


async def add_rule(stack: FlowStack) -> int:
    erp = ErpUser(stack.urls["erp"])
    try:
        [model_id] = await erp.execute("ir.model", "search", [("model", "=", "sale.order")])
        rule: int = await erp.execute("base.automation", "create", {
            "name": "bizbus: sale orders", "model_id": model_id, "trigger": "on_create_or_write",
            "action_server_ids": [(0, 0, {
                "name": "Notify bizbus", "model_id": model_id, "state": "webhook",
                "webhook_url": f"{stack.worker_url}/webhooks/odoo/{TOKEN}",
            })],
        })  # fmt: skip
    finally:
        await erp.http.aclose()
    return rule


async def erp_call(stack: FlowStack, model: str, method: str, *args: Any) -> Any:
    erp = ErpUser(stack.urls["erp"])
    try:
        return await erp.execute(model, method, *args)
    finally:
        await erp.http.aclose()


async def versions(stack: FlowStack, record_id: str) -> Counter[str]:
    """How often each content of sale order `record_id` is on `src.erp.sale-order`."""
    found: Counter[str] = Counter()
    for _, headers, value in await read_topic(stack, "src.erp.sale-order"):
        if orjson.loads(value)["record_id"] != record_id:
            continue
        raw_headers = {name: text.encode() for name, text in headers.items()}
        data = decode_record(value, raw_headers, keys=stack.keys).data  # personal data opened
        assert isinstance(data, SourceRecordCapturedV1)
        found[json.dumps(data.record, sort_keys=True, default=str)] += 1
    return found


async def passes(stack: FlowStack, feed: str) -> float:
    return (await stack.counters()).passes.get(feed, 0)


async def new_order(stack: FlowStack, ref: str) -> int:
    [partner] = await erp_call(stack, "res.partner", "search", [("ref", "=", "C10001")])
    order: int = await erp_call(
        stack, "sale.order", "create", {"partner_id": partner, "client_order_ref": ref}
    )
    return order


async def test_a_change_in_the_erp_reaches_kafka_once_by_webhook_hint(
    stack: FlowStack, rule: int
) -> None:
    await stack.wait_for(lambda: _polled(stack, FEED, 1), what="the start-up catch-up poll")
    before = await passes(stack, FEED)
    ref = f"PUSH-{uuid.uuid4().hex[:8]}"
    order = await new_order(stack, ref)

    async def published() -> Counter[str] | None:
        seen = await versions(stack, str(order))
        return seen or None

    seen = await stack.wait_for(published, what="the new sale order on src.erp.sale-order")
    [(content, count)] = seen.items()
    assert count == 1
    # Read through the API: the webhook body carried none of these fields.
    assert json.loads(content)["client_order_ref"] == ref
    assert await passes(stack, FEED) > before  # a hinted poll, not the hourly safety net

    await erp_call(stack, "sale.order", "write", [order], {"origin": "第二版"})

    async def second() -> Counter[str] | None:
        seen = await versions(stack, str(order))
        return seen if len(seen) == 2 else None

    both = await stack.wait_for(second, what="the second version of the sale order")
    assert set(both.values()) == {1}  # each version once
    assert sorted(json.loads(c).get("origin") or "" for c in both) == ["", "第二版"]


async def test_a_forged_token_publishes_nothing_and_bad_bodies_are_refused(
    stack: FlowStack, rule: int
) -> None:
    await erp_call(stack, "base.automation", "write", [rule], {"active": False})
    try:
        ref = f"FORGED-{uuid.uuid4().hex[:8]}"
        order = await new_order(stack, ref)  # no rule: the worker is not told
        before = await passes(stack, FEED)
        body = {"_action": "Notify bizbus(#1)", "_id": order, "_model": "sale.order"}
        async with httpx.AsyncClient(base_url=stack.worker_url, timeout=10) as http:
            for token in ("forged-token-forged-token-forged", TOKEN[:-1], ""):
                answer = await http.post(f"/webhooks/odoo/{token}", json=body)
                assert answer.status_code == 404, token
            hook = f"/webhooks/odoo/{TOKEN}"
            assert (await http.post(hook, content=b"not json")).status_code == 400
            assert (await http.post(hook, json={"_model": "sale.order"})).status_code == 400
            huge = b'{"_model": "sale.order", "_id": 1, "x": "' + b"x" * 2_000_000 + b'"}'
            assert (await http.post(hook, content=huge)).status_code == 413
            assert await passes(stack, FEED) == before  # the forged hint moved nothing
            assert not await versions(stack, str(order))
            # The genuine notification (what the rule would have sent) brings it, once.
            assert (await http.post(hook, json=body)).status_code == 202

        async def published() -> Counter[str] | None:
            seen = await versions(stack, str(order))
            return seen or None

        seen = await stack.wait_for(published, what="the hinted sale order")
        assert list(seen.values()) == [1]
    finally:
        await erp_call(stack, "base.automation", "write", [rule], {"active": True})


async def idle_calls(stack: FlowStack) -> tuple[int, float]:
    """ERP API calls while the CRM lead feed is polled PASSES more times; and those passes."""
    await stack.wait_for_polls(YARDSTICK, passes=2)
    start, before = await request_count(stack.urls["erp"]), await passes(stack, YARDSTICK)
    await stack.wait_for_polls(YARDSTICK, passes=PASSES)
    calls = await request_count(stack.urls["erp"]) - start
    return calls, await passes(stack, YARDSTICK) - before


async def test_idle_push_mode_makes_far_fewer_erp_calls_than_polling(
    stack: FlowStack, rule: int
) -> None:
    # Last in this module: it restarts the worker in poll mode for the comparison.
    pushed, push_window = await idle_calls(stack)
    assert stack.stop_worker() == 0
    stack.extra_env["BIZBUS_ERP_MODE"] = "poll"
    stack.start_worker()
    await stack.wait_for_polls(*ERP_FEEDS, passes=2)
    polled, poll_window = await idle_calls(stack)
    print(  # noqa: T201 - the figures, for the record (pytest -s)
        f"idle ERP calls per CRM lead poll: push {pushed}/{push_window:.0f}, "
        f"poll {polled}/{poll_window:.0f}"
    )
    # Polling reads each of the 4 ERP feeds about as often as the CRM lead feed.
    assert polled >= len(ERP_FEEDS) * poll_window / 2
    assert pushed * 20 <= polled


async def _polled(stack: FlowStack, feed: str, n: int) -> bool:
    return await passes(stack, feed) >= n
