"""Per-key lanes: concurrent across keys, in order within a key, bounded, pausable."""

import asyncio

import pytest

from bizbus.flows.runtime.lanes import KeyedLanes


class Recorder:
    """A job runner whose items finish when the test releases them."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.finished: list[str] = []
        self.gates: dict[str, asyncio.Event] = {}

    async def run(self, item: str) -> None:
        self.started.append(item)
        gate = self.gates.setdefault(item, asyncio.Event())
        await gate.wait()
        self.finished.append(item)

    def release(self, *items: str) -> None:
        for item in items:
            self.gates.setdefault(item, asyncio.Event()).set()


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_items_of_one_key_run_in_order_and_keys_run_concurrently() -> None:
    jobs = Recorder()
    lanes: KeyedLanes[str] = KeyedLanes(jobs.run, max_in_flight=8)
    for key, item in [("a", "a1"), ("b", "b1"), ("a", "a2"), ("b", "b2"), ("a", "a3")]:
        lanes.put(key, item)
    await settle()
    assert jobs.started == ["a1", "b1"]  # one per key at a time
    jobs.release("a1")
    await settle()
    assert jobs.started == ["a1", "b1", "a2"]
    jobs.release("a2", "a3", "b1", "b2")
    await lanes.wait_idle()
    assert [i for i in jobs.finished if i.startswith("a")] == ["a1", "a2", "a3"]
    assert [i for i in jobs.finished if i.startswith("b")] == ["b1", "b2"]
    assert lanes.backlog == 0


async def test_no_more_than_max_in_flight_items_run() -> None:
    jobs = Recorder()
    lanes: KeyedLanes[str] = KeyedLanes(jobs.run, max_in_flight=2)
    for key in "abcd":
        lanes.put(key, key)
    await settle()
    assert jobs.started == ["a", "b"]
    jobs.release("b")
    await settle()
    assert jobs.started == ["a", "b", "c"]
    jobs.release("a", "c", "d")
    await lanes.wait_idle()


async def test_backlog_asks_to_stop_fetching_and_to_resume_at_half() -> None:
    jobs = Recorder()
    calls: list[bool] = []
    lanes: KeyedLanes[str] = KeyedLanes(
        jobs.run, max_in_flight=1, high_water=4, on_backlog=calls.append
    )
    for n in range(4):
        lanes.put("k", f"i{n}")
    assert calls == [True]
    jobs.release("i0")
    await settle()
    assert calls == [True]  # 3 left: above half of 4
    jobs.release("i1")
    await settle()
    assert calls == [True, False]
    jobs.release("i2", "i3")
    await lanes.wait_idle()


async def test_paused_lanes_start_nothing_until_resumed() -> None:
    jobs = Recorder()
    lanes: KeyedLanes[str] = KeyedLanes(jobs.run)
    lanes.pause()
    lanes.put("a", "a1")
    await settle()
    assert jobs.started == []
    lanes.resume()
    await settle()
    assert jobs.started == ["a1"]
    jobs.release("a1")
    await lanes.wait_idle()


async def test_items_without_a_key_do_not_wait_for_each_other() -> None:
    jobs = Recorder()
    lanes: KeyedLanes[str] = KeyedLanes(jobs.run)
    lanes.put(None, "x")
    lanes.put(None, "y")
    await settle()
    assert jobs.started == ["x", "y"]
    jobs.release("x", "y")
    await lanes.wait_idle()


async def test_a_raising_job_does_not_stall_its_key() -> None:
    ran: list[str] = []

    async def run(item: str) -> None:
        ran.append(item)
        if item == "boom":
            raise RuntimeError("bug")

    lanes: KeyedLanes[str] = KeyedLanes(run)
    lanes.put("k", "boom")
    lanes.put("k", "next")
    await asyncio.wait_for(lanes.wait_idle(), 1)
    assert ran == ["boom", "next"]


async def test_close_cancels_running_items_and_drops_waiting_ones() -> None:
    jobs = Recorder()
    lanes: KeyedLanes[str] = KeyedLanes(jobs.run)
    lanes.put("a", "a1")
    lanes.put("a", "a2")
    await settle()
    await lanes.close()
    assert jobs.finished == [] and lanes.backlog == 0
    await asyncio.wait_for(lanes.wait_idle(), 1)


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        KeyedLanes(Recorder().run, max_in_flight=0)
