"""The push runner without Kafka or gRPC: a fake subscription, a dict as the cursor table."""

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bizbus.connectors.base import Cursor, SourceRecord
from bizbus.connectors.errors import CursorExpired
from bizbus.flows.runtime.polling import feed_event
from bizbus.flows.runtime.push import PushRunner, push_key
from bizbus.flows.runtime.spec import Emit, Feed, PushBatch, PushSource

T0 = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Batch:
    records: list[SourceRecord]
    replay_id: bytes
    catch_up: frozenset[str] = frozenset()


def account(ident: str, second: int) -> SourceRecord:
    at = Cursor(T0.replace(second=second), ident)
    return SourceRecord("Account", ident, at, {"Id": ident}, at.modified)


@dataclass
class Subscription:
    """Answers per subscribe call: a list of batches, or an error to raise at once."""

    answers: list[Any]
    opened: list[bytes | None] = field(default_factory=list)

    async def open(self, _: frozenset[str], position: bytes | None) -> AsyncGenerator[PushBatch]:
        self.opened.append(position)
        answer = self.answers.pop(0) if self.answers else []
        if isinstance(answer, Exception):
            raise answer
        for batch in answer:
            yield batch
        await asyncio.Event().wait()  # a live stream: nothing more for now


class World:
    def __init__(self, subscription: Subscription, cursors: dict[str, Any] | None = None) -> None:
        self.published: list[Emit] = []
        self.fail_on: str | None = None
        self.catch_ups = 0
        self.cursors: dict[str, Any] = cursors if cursors is not None else {}
        self.now = 0.0

        async def nothing() -> AsyncIterator[SourceRecord]:
            return
            yield  # pragma: no cover

        feed = Feed("crm.account", "crm", "src.crm.account", lambda _: nothing(), entity="Account")
        source = PushSource("crm", self.safety, subscription.open)
        self.runner = PushRunner(
            source, [feed], publish=self.publish, raw_event=feed_event,
            cursors=lambda: self.cursors, catch_up=self.catch_up, lease_s=5.0,
            clock=lambda: self.now,
        )  # fmt: skip

    async def safety(self) -> float | None:
        return 600.0

    async def publish(self, emit: Emit) -> None:
        if emit.event.subject == self.fail_on:
            raise ConnectionError("broker gone")
        self.published.append(emit)

    def catch_up(self) -> None:
        self.catch_ups += 1

    async def tick_until(self, done: Any) -> None:
        """Tick (letting the reader run between ticks) until `done()`; bounded by work, not time."""
        for _ in range(200):
            await self.runner.on_tick()
            if done():
                return
            await asyncio.sleep(0)
        raise AssertionError("the runner never got there")

    def subjects(self) -> list[str]:
        return [emit.event.subject for emit in self.published]


async def test_position_is_stored_only_once_every_record_of_its_batch_was_published() -> None:
    first = Batch([account("001A", 1), account("001B", 2)], b"\x00\x07")
    subscription = Subscription([[first], [first]])
    world = World(subscription, {push_key("crm"): "0006"})
    world.fail_on = "Account:001B"
    await world.tick_until(lambda: world.subjects() == ["Account:001A"])
    assert push_key("crm") not in world.cursors or world.cursors[push_key("crm")] == "0006"
    assert "crm.account" not in world.cursors  # the poll cursor did not move either
    world.fail_on = None  # the broker is back: the next ticks read the batch again
    await world.tick_until(lambda: world.cursors.get(push_key("crm")) == "0007")
    assert subscription.opened == [b"\x00\x06", b"\x00\x06"]
    assert world.subjects() == ["Account:001A", "Account:001A", "Account:001B"]
    assert Cursor.from_text(world.cursors["crm.account"]).id == "001B"
    await world.runner.stop()


async def test_a_fresh_subscription_catches_up_by_polling_after_its_first_answer() -> None:
    subscription = Subscription([[Batch([], b"\x00\x09")]])
    world = World(subscription)
    await world.tick_until(lambda: world.catch_ups == 1)
    assert subscription.opened == [None]
    assert world.cursors[push_key("crm")] == "0009"
    assert world.runner.subscribed()
    await world.runner.stop()


async def test_an_expired_position_is_forgotten_then_caught_up_from_the_tip() -> None:
    expired = CursorExpired("salesforce pubsub: replay id corrupted", system="crm")
    subscription = Subscription([expired, [Batch([account("001C", 3)], b"\x00\x20")]])
    world = World(subscription, {push_key("crm"): "0001"})
    await world.tick_until(lambda: world.catch_ups == 1)
    assert subscription.opened == [b"\x00\x01", None]
    assert world.subjects() == ["Account:001C"]
    assert world.cursors[push_key("crm")] == "0020"
    assert world.runner.expired == 1
    await world.runner.stop()


async def test_a_batch_that_names_objects_it_could_not_list_asks_for_a_poll() -> None:
    overflow = Batch([], b"\x00\x30", catch_up=frozenset({"Account"}))
    world = World(Subscription([[overflow]]), {push_key("crm"): "0002"})
    await world.tick_until(lambda: world.catch_ups == 1)
    await world.runner.stop()


async def test_a_worker_whose_lease_ran_out_publishes_nothing_more() -> None:
    late = Batch([account("001D", 4)], b"\x00\x40")
    gate = asyncio.Event()

    async def open_(_: frozenset[str], position: bytes | None) -> AsyncGenerator[PushBatch]:
        await gate.wait()
        yield late

    world = World(Subscription([]))
    world.runner.source = PushSource("crm", world.safety, open_)
    await world.runner.on_tick()  # starts the reader, which waits for the system
    world.now = 60.0  # no tick for a minute: another worker owns the system now
    gate.set()
    for _ in range(20):  # let the reader take the batch (yields, no timed sleep)
        await asyncio.sleep(0)
    assert world.runner._task is not None and world.runner._task.done()
    assert not world.published and push_key("crm") not in world.cursors
