"""The poller's tick logic without Kafka: batches, back-off, speed-up and the API budget.

A fake clock drives it; each fake read or prefetch counts as one API call of its system, the
way the connectors' call counters would.
"""

import itertools
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from bizbus.connectors.base import Cursor, SourceRecord
from bizbus.flows.runtime.budget import DAY_S, budget_key
from bizbus.flows.runtime.metrics import worker_families
from bizbus.flows.runtime.polling import Poller
from bizbus.flows.runtime.record import RawRecord
from bizbus.flows.runtime.spec import Batch, Emit, Feed, HintSource

T0 = 1_800_000_000.0


class World:
    """Fake systems: pending changes per feed, calls per system, the clock."""

    def __init__(self) -> None:
        self.now = T0
        self.calls: Counter[str] = Counter()
        self.reads: list[tuple[float, str]] = []
        self.prefetches: list[dict[str, Cursor | None]] = []
        self.pending: dict[str, list[str]] = {}
        self.published: list[Emit] = []

    def feed(self, name: str, system: str, *, batched: bool = False) -> Feed:
        async def read(since: Cursor | None) -> AsyncIterator[SourceRecord]:
            self.reads.append((self.now, name))
            if not batched:
                self.calls[system] += 1
            for ident in self.pending.pop(name, []):
                at = Cursor(datetime.fromtimestamp(self.now, UTC), ident)
                yield SourceRecord("Thing", ident, at, {"Id": ident}, at.modified)

        async def prefetch(since: Mapping[str, Cursor | None]) -> None:
            self.prefetches.append(dict(since))
            self.calls[system] += 1  # one Composite call for every feed of the batch

        batch = Batch("composite", name, prefetch) if batched else None
        return Feed(name, system, f"src.{system}.thing", read, batch=batch)  # type: ignore[arg-type]

    async def publish(self, emit: Emit) -> None:
        self.published.append(emit)

    def poller(self, cursors: dict[str, Any], **options: Any) -> Poller:
        before = Counter(self.calls)  # a new process's connectors count from zero
        poller = Poller(
            None,
            ticks_topic="ticks",
            interval_s=1.0,
            partitions=4,
            publish=self.publish,
            gates=None,  # type: ignore[arg-type]
            spent=lambda system: self.calls[system] - before[system],
            clock=lambda: self.now,
            wall=lambda: self.now,
            **options,
        )
        poller.cursors = cursors
        return poller

    async def tick(self, poller: Poller, system: str) -> None:
        await poller._on_tick(system, int(self.now * 1000))

    async def run(self, poller: Poller, system: str, seconds: float, step: float = 0.5) -> None:
        end = self.now + seconds
        while self.now < end:
            await self.tick(poller, system)
            self.now += step


def crm_world() -> tuple[World, list[Feed]]:
    world = World()
    feeds = [world.feed(n, "crm", batched=True) for n in ("crm.order", "crm.account")]
    return world, [*feeds, world.feed("erp.sale-order", "erp")]


async def test_the_batched_feeds_of_a_system_are_read_after_one_prefetch() -> None:
    world, feeds = crm_world()
    poller = world.poller({})
    for feed in feeds:
        poller.add(feed)
    world.pending["crm.account"] = ["001A"]
    await world.tick(poller, "crm")
    assert world.prefetches == [{"crm.order": None, "crm.account": None}]
    assert sorted(name for _, name in world.reads) == ["crm.account", "crm.order"]
    assert world.calls == {"crm": 1}
    assert [e.event.data.record_id for e in world.published] == ["001A"]
    assert poller.cursors["crm.account"].endswith("|001A")
    assert poller.passes == {"crm.order": 1, "crm.account": 1}


async def test_an_idle_feed_backs_off_to_the_idle_interval_and_a_change_speeds_it_up() -> None:
    world, feeds = crm_world()
    poller = world.poller({}, idle_s={"crm": 16.0})
    for feed in feeds[:2]:
        poller.add(feed)
    await world.run(poller, "crm", 64.0)
    times = [at - T0 for at, name in world.reads if name == "crm.order"]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps[:4] == [2.0, 4.0, 8.0, 16.0] and set(gaps[4:]) == {16.0}

    world.pending["crm.order"] = ["801A"]
    poller.hurry("crm")  # e.g. a push hint: no need to wait out the idle interval
    await world.run(poller, "crm", 4.0)
    times = [at - T0 for at, name in world.reads if name == "crm.order"][-3:]
    assert [b - a for a, b in itertools.pairwise(times)] == [1.0, 2.0]


async def test_a_tiny_budget_is_never_exceeded_and_survives_a_restart() -> None:
    world, feeds = crm_world()
    cursors: dict[str, Any] = {}
    poller = world.poller(cursors, idle_s={"crm": 1.0}, budgets={"crm": 5})
    for feed in feeds[:2]:
        poller.add(feed)
    await world.run(poller, "crm", 3600.0, step=1.0)
    assert world.calls["crm"] == 3  # from half the budget on, polls are a day's share apart
    assert poller.ledger("crm").spent(world.now) == 3

    restarted = world.poller(cursors, idle_s={"crm": 1.0}, budgets={"crm": 5})
    for feed in feeds[:2]:
        restarted.add(feed)
    await world.run(restarted, "crm", 3600.0, step=1.0)
    # The restart forgot the pacing, not the ledger: still within the budget.
    assert 3 < world.calls["crm"] <= 5
    assert restarted.ledger("crm").spent(world.now) == world.calls["crm"]
    before_the_window_moves = world.calls["crm"]

    world.now += DAY_S  # the old calls leave the window
    await world.run(restarted, "crm", 60.0, step=1.0)
    assert before_the_window_moves < world.calls["crm"] <= before_the_window_moves + 5


async def test_polls_spread_out_once_half_the_budget_is_spent() -> None:
    world, feeds = crm_world()
    poller = world.poller({}, idle_s={"crm": 1.0}, budgets={"crm": 1000})
    for feed in feeds[:2]:
        poller.add(feed)
    await world.run(poller, "crm", 600.0, step=1.0)
    assert world.calls["crm"] == 500  # every second until half is spent ...
    await world.run(poller, "crm", 600.0, step=1.0)
    assert world.calls["crm"] <= 504  # ... then one call every ~173 s (86400 / 500 left)


async def test_calls_other_workers_report_count_against_the_budget() -> None:
    world, feeds = crm_world()
    poller = world.poller({}, budgets={"crm": 10})
    for feed in feeds[:2]:
        poller.add(feed)
    record = RawRecord("ticks", 0, 0, b"crm", b"spent:10")
    await poller._on_tick_record(record)
    assert poller.cursors[budget_key("crm")]["slots"]  # stored with the cursors
    await world.run(poller, "crm", 30.0)
    assert world.calls["crm"] == 0  # a sink elsewhere spent it all: no poll


async def test_the_budget_report_is_the_ledger_each_metric_scrape_reads() -> None:
    world, feeds = crm_world()
    poller = world.poller({}, idle_s={"crm": 1.0}, budgets={"crm": 40})
    for feed in feeds:
        poller.add(feed)
    await world.run(poller, "crm", 10.0, step=1.0)
    await world.run(poller, "erp", 3.0, step=1.0)
    assert poller.budget_report() == {
        "crm": (world.calls["crm"], 40),
        "erp": (world.calls["erp"], None),
    }
    families = {m.name: m for m in worker_families(
        passes=dict, polled=lambda: 0, holds=lambda: 0, ready=lambda: True,
        budgets=poller.budget_report,
    )()}  # fmt: skip
    spent = {s.labels["system"]: s.value for s in families["bizbus_api_calls_24h"].samples}
    limits = {s.labels["system"]: s.value for s in families["bizbus_api_daily_budget"].samples}
    assert spent == {"crm": world.calls["crm"], "erp": world.calls["erp"]} and spent["crm"] > 0
    assert limits == {"crm": 40}  # an unlimited system has no budget series


def hinted_world(safety_s: float | None = 600.0) -> tuple[World, Poller, HintSource]:
    world = World()

    async def safety() -> float | None:
        return safety_s

    async def accepts(token: str) -> bool:
        return False

    source = HintSource("erp", "/webhooks/odoo", safety, accepts, bytes.decode)
    poller = world.poller({}, hints=[source])
    for name, model in (("erp.sale-order", "sale.order"), ("erp.picking", "stock.picking")):
        feed = world.feed(name, "erp")
        poller.add(replace(feed, entity=model))
    return world, poller, source


async def hint(poller: Poller, model: str) -> None:
    await poller._on_tick_record(RawRecord("ticks", 0, 0, b"erp", b"hint:" + model.encode()))


async def test_a_hinted_system_polls_once_at_start_then_only_on_hints_and_safety_polls() -> None:
    world, poller, _ = hinted_world()
    assert await poller._learn("erp") and poller.safety_s == {"erp": 600.0}
    await world.run(poller, "erp", 300.0)
    assert sorted(name for _, name in world.reads) == ["erp.picking", "erp.sale-order"]

    world.reads.clear()
    await hint(poller, "sale.order")
    await world.run(poller, "erp", 1.0)
    assert [name for _, name in world.reads] == ["erp.sale-order"]  # that model's feed only

    world.reads.clear()
    await hint(poller, "res.partner")  # no feed carries it: every feed of the system polls
    await world.run(poller, "erp", 1.0)
    assert sorted(name for _, name in world.reads) == ["erp.picking", "erp.sale-order"]

    world.reads.clear()
    await world.run(poller, "erp", 600.0)  # then the safety net: once per feed per 600 s
    assert sorted(name for _, name in world.reads) == ["erp.picking", "erp.sale-order"]


async def test_a_hint_that_arrives_while_polling_polls_again() -> None:
    world, poller, _ = hinted_world()
    await poller._learn("erp")
    await world.run(poller, "erp", 1.0)
    feed = poller.feeds["erp.sale-order"]
    read = feed.read

    async def racing(since: Cursor | None) -> AsyncIterator[SourceRecord]:
        async for record in read(since):
            yield record
        if len(world.reads) == 1:
            await hint(poller, "sale.order")  # the change committed after this read

    poller.feeds["erp.sale-order"] = replace(feed, read=racing)
    world.reads.clear()
    await hint(poller, "sale.order")
    await world.run(poller, "erp", 2.0)
    assert [name for _, name in world.reads] == ["erp.sale-order", "erp.sale-order"]


async def test_a_hinted_system_in_poll_mode_polls_as_usual() -> None:
    world, poller, _ = hinted_world(safety_s=None)
    await poller._learn("erp")
    await world.run(poller, "erp", 4.0)
    assert len([name for _, name in world.reads if name == "erp.sale-order"]) == 4


async def test_an_owner_that_is_not_the_leader_learns_push_on_its_first_tick() -> None:
    world, poller, _ = hinted_world()  # no leader timer ran `_learn` in this worker
    await world.run(poller, "erp", 300.0)
    assert poller.safety_s == {"erp": 600.0}
    assert sorted(name for _, name in world.reads) == ["erp.picking", "erp.sale-order"]
