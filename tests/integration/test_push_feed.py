"""The worker's CRM push feed (Change Data Capture) end to end: sandbox CRM → worker → Kafka.

Counted from the sandbox's effects log (the accounts the CRM says were created), read back from
`src.crm.account` on the real broker. The safety-net poll is set to an hour, so a change that
arrives without a poll pass was pushed; a catch-up shows up as a poll pass. An account is
published once per version (the customers flow writes its ERP number back: a second version);
the same version twice is a double.
"""

from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from bizbus.deploy.demo.actors import CrmUser
from bizbus.flows.runtime.metrics import METRICS_PATH
from tests.integration.flowstack import FlowStack
from tests.integration.test_flow_orders import effects, read_topic

FEED = "crm.account"


@pytest.fixture(scope="module")
def stack(flow_stack_factory: Any) -> Iterator[FlowStack]:
    started: FlowStack = flow_stack_factory(
        flows="customers", systems=("crm", "erp"), push=True,
        sandbox_env={"BIZBUS_SANDBOX_CRM_PUBSUB_KEEPALIVE_S": "0.5"},
        worker_env={"BIZBUS_CRM_PUSH_SAFETY_POLL_S": "3600"},
    )  # fmt: skip
    yield started


async def created_accounts(stack: FlowStack) -> set[str]:
    """Every Account the CRM sandbox's effects log says was created through its API."""
    return {row["record_id"] for row in await effects(stack.urls["crm"], "Account")
            if row["action"] == "create"}  # fmt: skip


async def versions(stack: FlowStack) -> Counter[tuple[str, str]]:
    """How often each (Account id, modification time) appears on `src.crm.account`."""
    return Counter(
        (key.decode().removeprefix("Account:"), str(orjson.loads(value)["modified_at"]))
        for key, _, value in await read_topic(stack, "src.crm.account")
        if key.startswith(b"Account:")
    )


async def pushed(stack: FlowStack) -> Counter[str]:
    """How many versions of each Account id are on `src.crm.account`."""
    return Counter(record_id for record_id, _ in await versions(stack))


async def doubles(stack: FlowStack, ids: set[str]) -> dict[tuple[str, str], int]:
    return {key: n for key, n in (await versions(stack)).items() if key[0] in ids and n > 1}


async def wait_all_on_kafka(stack: FlowStack, ids: set[str]) -> Counter[str]:
    async def arrived() -> Counter[str] | None:
        seen = await pushed(stack)
        return seen if ids <= set(seen) else None

    return await stack.wait_for(arrived, what=f"{len(ids)} accounts on src.crm.account")


async def passes(stack: FlowStack) -> int:
    """Polls of the account feed this worker really made (readiness counts a pushing feed)."""
    async with stack.web() as http:
        text = (await http.get(METRICS_PATH)).text
    line = f'bizbus_poll_passes_total{{feed="{FEED}"}} '
    found = [row for row in text.splitlines() if row.startswith(line)]
    return int(float(found[0].removeprefix(line))) if found else 0


async def create_accounts(stack: FlowStack, crm: CrmUser, label: str, n: int) -> set[str]:
    return {await crm.create("Account", {"Name": f"{label} {i} 推送"}) for i in range(n)}


async def test_crm_changes_are_pushed_to_kafka_without_a_poll(
    stack: FlowStack, crm: CrmUser
) -> None:
    # The first pass is the catch-up the subscription starts with.
    await stack.wait_for(lambda: _at_least(stack, 1), what="the start-up catch-up poll")
    before = await passes(stack)
    ids = await create_accounts(stack, crm, "Push", 3)
    await wait_all_on_kafka(stack, ids)
    assert not await doubles(stack, ids)
    assert await passes(stack) == before  # they came by push: no poll read them


async def test_changes_made_while_the_worker_is_down_arrive_once_from_the_replay_id(
    stack: FlowStack, crm: CrmUser
) -> None:
    assert stack.stop_worker() == 0
    ids = await create_accounts(stack, crm, "While Down", 3)
    stack.start_worker()
    seen = await wait_all_on_kafka(stack, ids)
    assert await passes(stack) == 0  # resumed from the stored replay id, not by polling
    everything = await created_accounts(stack)
    assert not await doubles(stack, everything)
    # Seeded accounts predate the worker; every account created since the stack started is there.
    missing = {i for i in everything if i not in seen}
    assert not (missing & _since_start(everything, seen)), missing


async def test_an_overflow_event_makes_the_owner_catch_up_by_polling(
    stack: FlowStack, crm: CrmUser
) -> None:
    before = await passes(stack)
    async with httpx.AsyncClient(base_url=stack.urls["crm"], timeout=10) as control:
        response = await control.post("/_sandbox/changes/overflow", json={"object": "Account"})
        assert response.status_code == 200
    await stack.wait_for(lambda: _at_least(stack, before + 1), what="a catch-up poll")


async def test_an_expired_replay_id_falls_back_to_a_catch_up_poll_and_misses_nothing(
    stack: FlowStack, crm: CrmUser
) -> None:
    # Last in this module: it moves the CRM's clock past the 72 h retention window.
    assert stack.stop_worker() == 0
    ids = await create_accounts(stack, crm, "Expired", 2)
    async with httpx.AsyncClient(base_url=stack.urls["crm"], timeout=10) as control:
        step = await control.post("/_sandbox/clock", json={"advance_s": 73 * 3600})
        assert step.status_code == 200
    stack.start_worker()
    await wait_all_on_kafka(stack, ids)
    assert await passes(stack) >= 1  # the catch-up poll found them
    assert "stored push position expired" in stack.log_tail(400)
    later = await create_accounts(stack, crm, "After Expiry", 2)
    await wait_all_on_kafka(stack, later)  # and pushing goes on from the tip


async def _at_least(stack: FlowStack, n: int) -> bool:
    return await passes(stack) >= n


def _since_start(everything: set[str], seen: Counter[str]) -> set[str]:
    # Ids are minted in order: the first one the worker published bounds the seeded ones.
    first = min(seen) if seen else ""
    return {i for i in everything if i >= first}
