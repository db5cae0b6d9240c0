"""RateBudget: sustained rate, burst, fair queuing and 429 pauses (virtual clock)."""

import asyncio

import pytest

from bizbus.connectors.quota import RateBudget


class VirtualTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


async def test_burst_then_sustained_rate() -> None:
    time = VirtualTime()
    budget = RateBudget(10, 5, clock=time.clock, sleep=time.sleep)
    for _ in range(5):
        await budget.acquire()
    assert time.now == 0
    for _ in range(10):
        await budget.acquire()
    assert time.now == pytest.approx(1.0)


async def test_concurrent_callers_stay_within_the_rate() -> None:
    time = VirtualTime()
    budget = RateBudget(50, 1, clock=time.clock, sleep=time.sleep)
    stamps: list[float] = []

    async def call() -> None:
        await budget.acquire()
        stamps.append(time.now)

    await asyncio.gather(*(call() for _ in range(101)))
    assert time.now == pytest.approx(2.0)
    assert stamps == sorted(stamps)


async def test_pause_holds_every_caller() -> None:
    time = VirtualTime()
    budget = RateBudget(100, 100, clock=time.clock, sleep=time.sleep)
    budget.pause(3)
    await budget.acquire()
    assert time.now == pytest.approx(3.0)


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="rate"):
        RateBudget(0)
