"""Feeds poll independently: a feed whose system is slow holds no other feed."""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.flowstack import FlowStack


@pytest.fixture(scope="module")
def stack(flow_stack_factory: Any) -> Iterator[FlowStack]:
    started: FlowStack = flow_stack_factory(flows="customers,fulfilment", systems=("crm", "erp"))
    yield started


async def test_a_slow_crm_feed_holds_no_erp_feed(stack: FlowStack) -> None:
    async with httpx.AsyncClient(base_url=stack.urls["crm"], timeout=10) as http:
        (await http.post("/_sandbox/faults", json={"latency_ms": 4000})).raise_for_status()
    try:
        start = (await stack.counters()).passes
        erp_feeds = [name for name in start if name.startswith("erp.")]
        assert erp_feeds and "crm.account" in start
        # Each ERP feed polls again and again while one slow CRM pass is under way.
        await stack.wait_for_polls(*erp_feeds, passes=4)
        now = (await stack.counters()).passes
        assert now["crm.account"] - start["crm.account"] <= 2
    finally:
        async with httpx.AsyncClient(base_url=stack.urls["crm"], timeout=10) as http:
            await http.post("/_sandbox/faults", json={})
