"""ChangeStream (Change Data Capture over the Pub/Sub API) against the sandbox CRM, real sockets.

What it must deliver: the same records the polled feeds read, one REST query per object per
batch, every change after a stored replay id exactly once, overflow → catch-up, and an expired
replay id refused as `ReplayExpired` (catch up by polling).
"""

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from bizbus.connectors.base import Outcome, SinkCommand, SourceRecord
from bizbus.connectors.retry import RetryPolicy
from bizbus.connectors.salesforce import FEED_ENTITIES, SalesforceConnector
from bizbus.connectors.salesforce.cdc import ChangeBatch, ChangeStream, ReplayExpired
from bizbus.deploy.sandbox.registry import SYSTEMS
from bizbus.deploy.sandbox.runner import SandboxStack
from tests.integration.test_connector_salesforce_sandbox import crm_settings

WAIT_S = 30.0
FAST = RetryPolicy(attempts=3, max_delay=5.0, initial=0.05, max_backoff=0.2, jitter=0.05)


@pytest.fixture(scope="module")
def crm_url(crm_pubsub: SandboxStack) -> str:
    return crm_pubsub.urls["crm"]


@pytest.fixture
async def crm(crm_pubsub: SandboxStack, crm_url: str) -> AsyncIterator[SalesforceConnector]:
    address = crm_pubsub.grpc_addresses["crm"]
    settings = crm_settings(crm_url, pubsub_url=f"http://{address}")
    async with SalesforceConnector(settings, retry=FAST) as connector:
        yield connector


@pytest.fixture
async def human(crm_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A person editing in the CRM through another app (its own client name, no bizbus)."""
    async with httpx.AsyncClient(base_url=f"{crm_url}/services/data/v60.0", timeout=10) as http:
        creds = SYSTEMS["crm"].credentials
        token = await http.post(f"{crm_url}/services/oauth2/token",
                                data={"grant_type": "client_credentials", **creds})  # fmt: skip
        http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        http.headers["Sforce-Call-Options"] = "client=crm-ui"
        yield http


async def create(human: httpx.AsyncClient, obj: str, fields: dict[str, Any]) -> str:
    response = await human.post(f"/sobjects/{obj}", json=fields)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def update(
    human: httpx.AsyncClient, obj: str, record_id: str, fields: dict[str, Any]
) -> None:
    response = await human.patch(f"/sobjects/{obj}/{record_id}", json=fields)
    assert response.status_code == 204, response.text


class Collector:
    """Reads a ChangeStream in the background; tests wait on what it collected."""

    def __init__(self, stream: ChangeStream, replay_id: bytes | None) -> None:
        self.batches: list[ChangeBatch] = []
        self.error: BaseException | None = None
        self.changed = asyncio.Event()
        self._task = asyncio.create_task(self._run(stream, replay_id))

    async def _run(self, stream: ChangeStream, replay_id: bytes | None) -> None:
        try:
            async for batch in stream.batches(replay_id):
                self.batches.append(batch)
                self.changed.set()
        except Exception as error:  # noqa: BLE001 - handed to the test
            self.error = error
            self.changed.set()

    @property
    def records(self) -> list[SourceRecord]:
        return [record for batch in self.batches for record in batch.records]

    async def until(self, done: Any) -> None:
        async def wait() -> None:
            while not done(self):
                if self.error is not None:
                    raise self.error
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(wait(), WAIT_S)

    async def live(self) -> None:
        """Wait for the first keepalive: the subscription is placed."""
        await self.until(lambda c: c.batches)

    async def stop(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


@pytest.fixture
async def stream(crm: SalesforceConnector) -> AsyncIterator[ChangeStream]:
    change_stream = ChangeStream(crm, FEED_ENTITIES)
    yield change_stream
    await change_stream.aclose()


def ids_of(collector: Collector) -> list[str]:
    return [record.id for record in collector.records]


async def one_change(
    stream: ChangeStream, human: httpx.AsyncClient, name: str
) -> tuple[str, bytes]:
    """Create an Account while subscribed; return its id and the replay id of its batch."""
    collector = Collector(stream, None)
    try:
        await collector.live()
        account = await create(human, "Account", {"Name": name})
        await collector.until(lambda c: account in ids_of(c))
    finally:
        await collector.stop()
    batch = next(b for b in collector.batches if account in [r.id for r in b.records])
    return account, batch.replay_id


async def test_pushed_changes_are_the_records_the_poll_feed_reads(
    crm: SalesforceConnector, stream: ChangeStream, human: httpx.AsyncClient
) -> None:
    collector = Collector(stream, None)
    try:
        await collector.live()
        account = await create(human, "Account", {"Name": "推送 Push Co", "Phone": "021-1"})
        key = f"T-ORD-{uuid.uuid4().hex[:8]}"
        placed = await crm.apply(
            SinkCommand(
                "Order",
                key,
                {"Account": {"ErpCustomerRef__c": "C10001"}, "EffectiveDate": "2026-11-27"},
            )
        )
        assert placed.outcome is Outcome.CREATED
        order = placed.external_ids["salesforce_id"]
        await collector.until(lambda c: {account, order} <= set(ids_of(c)))
    finally:
        await collector.stop()
    pushed = {record.id: record for record in collector.records}
    for entity, record_id in (("Account", account), ("Order", order)):
        polled = [r async for r in crm.changes(entity, None) if r.id == record_id]
        assert polled, f"the poll feed does not see {entity} {record_id}"
        assert dict(pushed[record_id].payload) == dict(polled[-1].payload)
        assert pushed[record_id].entity == entity
        assert pushed[record_id].modified_at == polled[-1].modified_at
    assert pushed[order].client == crm.client_tag  # our own write: recognisable as an echo
    assert pushed[account].client == "crm-ui"
    assert "OrderItems" in pushed[order].payload


async def test_resume_from_a_stored_replay_id_misses_nothing_and_repeats_nothing(
    stream: ChangeStream, human: httpx.AsyncClient, crm_url: str
) -> None:
    seen, stored = await one_change(stream, human, "Before Stop Ltd")
    # While no one listens: two creates and an update of the record seen before.
    later = [await create(human, "Account", {"Name": f"While Down {n}"}) for n in range(2)]
    await update(human, "Account", seen, {"Phone": "+86 10 0000"})
    requests_before = _request_count(crm_url)
    resumed = Collector(stream, stored)
    try:
        await resumed.until(lambda c: len(ids_of(c)) >= 3)
        first_batch = next(b for b in resumed.batches if b.records)
    finally:
        await resumed.stop()
    assert sorted(ids_of(resumed)) == sorted([*later, seen])
    assert len(set(ids_of(resumed))) == 3
    # The three changes waited in one response: one queryAll read them all (no token call:
    # the connector's token is cached).
    assert len(first_batch.records) == 3
    queries = [r for r in _requests(crm_url, requests_before) if "/query" in r["path"]]
    assert len(queries) == 1, queries


async def test_overflow_asks_for_a_catch_up_and_a_gap_event_is_read_like_a_change(
    stream: ChangeStream, human: httpx.AsyncClient, crm_url: str
) -> None:
    account = await create(human, "Account", {"Name": "Gap Holdings"})
    collector = Collector(stream, None)
    try:
        await collector.live()
        async with httpx.AsyncClient(base_url=crm_url, timeout=10) as control:
            gap = await control.post(
                "/_sandbox/changes/gap",
                json={"object": "Account", "id": account, "fields": {"Phone": "400-800"}},
            )
            assert gap.status_code == 200
            overflow = await control.post("/_sandbox/changes/overflow", json={"object": "Order"})
            assert overflow.status_code == 200
        await collector.until(lambda c: any(b.catch_up for b in c.batches) and account in ids_of(c))
    finally:
        await collector.stop()
    (record,) = [r for r in collector.records if r.id == account]
    assert record.payload["Phone"] == "400-800"  # read through REST: the gap event had no fields
    assert {e for b in collector.batches for e in b.catch_up} == {"Order"}


async def test_an_expired_replay_id_is_refused_as_replay_expired(
    stream: ChangeStream, human: httpx.AsyncClient, crm_url: str
) -> None:
    # Last in this module: it moves the sandbox clock past the 72 h retention window.
    _, stored = await one_change(stream, human, "Ancient Ltd")
    async with httpx.AsyncClient(base_url=crm_url, timeout=10) as control:
        step = await control.post("/_sandbox/clock", json={"advance_s": 73 * 3600})
        assert step.status_code == 200
    expired = Collector(stream, stored)
    try:
        with pytest.raises(ReplayExpired):
            await expired.until(lambda c: False)
    finally:
        await expired.stop()


def _requests(crm_url: str, since: int) -> list[dict[str, Any]]:
    body = httpx.get(f"{crm_url}/_sandbox/requests", params={"since": since}, timeout=10).json()
    return list(body["requests"])


def _request_count(crm_url: str) -> int:
    return int(httpx.get(f"{crm_url}/_sandbox/requests", timeout=10).json()["total"])
