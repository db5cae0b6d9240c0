"""A real worker polls the CRM adaptively and within its daily API budget (the request log says).

Every poll of the CRM is one Composite call; an idle CRM is polled less and less often, a
change brings the fast interval back, and a tiny budget is never passed, not even by a
restarted worker (the ledger lives with the cursors on Kafka).
"""

import itertools
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from bizbus.deploy.demo.actors import CrmUser
from tests.integration.conftest import SALESPERSON
from tests.integration.flowstack import ROOT, FlowStack
from tests.integration.test_api_economy import requests_since

IDLE_S = 6.0
BUDGET = 6
COMPOSITE = "/services/data/v60.0/composite"


@pytest.fixture(scope="module")
def idle_stack(flow_stack_factory: Any) -> Iterator[FlowStack]:
    env = {"BIZBUS_CRM_POLL_IDLE_S": str(IDLE_S)}
    started: FlowStack = flow_stack_factory(
        flows="customers", systems=("crm", "erp"), worker_env=env
    )
    yield started


@pytest.fixture(scope="module")
def budget_stack(flow_stack_factory: Any) -> Iterator[FlowStack]:
    env = {"BIZBUS_CRM_DAILY_API_BUDGET": str(BUDGET)}
    started: FlowStack = flow_stack_factory(
        flows="customers,fulfilment", systems=("crm", "erp"), worker_env=env
    )
    yield started


async def composite_calls(stack: FlowStack) -> list[float]:
    """When the worker polled the CRM (each poll is one Composite call)."""
    return [r["at"] for r in await requests_since(stack.urls["crm"], 0) if r["path"] == COMPOSITE]


async def test_an_idle_crm_is_polled_less_often_and_a_change_brings_the_fast_interval_back(
    idle_stack: FlowStack,
) -> None:
    stack = idle_stack

    async def backed_off() -> list[float] | None:
        calls = await composite_calls(stack)
        gaps = [b - a for a, b in itertools.pairwise(calls)]
        return gaps if gaps and gaps[-1] >= IDLE_S * 0.9 else None

    gaps = await stack.wait_for(backed_off, what="polls an idle interval apart", timeout_s=120)
    # Doubling from 0.5 s: several polls before the idle interval, none of the later ones closer.
    assert min(gaps) < IDLE_S / 2 and len(gaps) >= 3

    crm = await CrmUser(stack.urls["crm"], SALESPERSON.email).login()
    try:
        [account] = await crm.query("SELECT Id FROM Account ORDER BY AccountNumber LIMIT 1")
        before = len(await composite_calls(stack))
        await crm.update("Account", account["Id"], {"Phone": f"+86 512 {before:04d} 0000"})
    finally:
        await crm.aclose()

    async def polled_after_change() -> list[float] | None:
        calls = (await composite_calls(stack))[before:]
        return calls if len(calls) >= 3 else None

    first, _second, third = (await stack.wait_for(polled_after_change, what="polls"))[:3]
    # The first poll after the update found it; the next two follow at 0.5 s and 1 s, not 6 s.
    assert third - first < IDLE_S


async def test_a_tiny_budget_is_never_passed_not_even_after_a_restart(
    budget_stack: FlowStack,
) -> None:
    stack = budget_stack
    erp_feeds = [name for name in (await stack.counters()).passes if name.startswith("erp.")]
    await stack.wait_for_polls(*erp_feeds, passes=20)  # the ERP polls on: time goes by
    polls = await composite_calls(stack)
    assert 0 < len(polls) <= BUDGET
    assert "daily API" in stack.log_path.read_text()  # the throttling was logged

    stack.stop_worker()
    stack.start_worker()
    await stack.wait_for_polls(*erp_feeds, passes=20)
    assert len(await composite_calls(stack)) <= BUDGET

    shown = subprocess.run(
        [sys.executable, "-m", "bizbus.deploy", "budget", "--json"],
        env={**os.environ, **stack.worker_env()},
        cwd=ROOT,
        capture_output=True,
        check=True,
        timeout=60,
    )
    crm = orjson.loads(shown.stdout)["crm"]
    assert crm["daily_budget"] == BUDGET
    assert crm["spent_24h"] >= len(await composite_calls(stack))
