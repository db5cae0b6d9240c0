"""KeyedRunner: per-key order, concurrency across keys bounded, errors stay with their job."""

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from bizbus.connectors.keyed import KeyedRunner


async def test_jobs_of_one_key_run_in_submit_order_and_keys_run_concurrently() -> None:
    done: dict[str, list[int]] = {"a": [], "b": []}
    running = 0
    peak = 0

    def job(key: str, n: int, delay: float) -> Callable[[], Awaitable[int]]:
        async def run() -> int:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(delay)
            done[key].append(n)
            running -= 1
            return n

        return run

    async with asyncio.timeout(5), KeyedRunner(4) as runner:
        # Earlier jobs are slower: without per-key order they would finish last.
        futures = [runner.submit(key, job(key, n, 0.02 - n * 0.004))
                   for n in range(5) for key in ("a", "b")]  # fmt: skip
    assert done == {"a": [0, 1, 2, 3, 4], "b": [0, 1, 2, 3, 4]}
    assert peak == 2  # one per key at a time, both keys at once
    assert [f.result() for f in futures] == [n for n in range(5) for _ in "ab"]
    assert runner.pending == 0 and runner.active_keys == 0


async def test_concurrency_is_bounded_across_keys() -> None:
    running = 0
    peak = 0

    async def run() -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.005)
        running -= 1

    async with asyncio.timeout(5), KeyedRunner(3) as runner:
        for key in range(12):
            runner.submit(key, run)
    assert peak == 3


async def test_a_failed_job_fails_its_future_and_the_key_goes_on() -> None:
    async def boom() -> int:
        raise ValueError("no")

    async def fine() -> int:
        return 1

    async with asyncio.timeout(5), KeyedRunner(2) as runner:
        failed = runner.submit("k", boom)
        after = runner.submit("k", fine)
    with pytest.raises(ValueError, match="no"):
        failed.result()
    assert after.result() == 1


async def test_aclose_cancels_queued_jobs() -> None:
    started = asyncio.Event()

    async def slow() -> None:
        started.set()
        await asyncio.sleep(10)

    runner = KeyedRunner(1)
    first = runner.submit("k", slow)
    queued = runner.submit("k", slow)
    async with asyncio.timeout(5):
        await started.wait()
        await runner.aclose()
    assert first.cancelled() and queued.cancelled() and runner.pending == 0


def test_concurrency_must_be_positive() -> None:
    with pytest.raises(ValueError, match="concurrency"):
        KeyedRunner(0)
