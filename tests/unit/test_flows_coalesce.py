"""The coalescer: concurrent submits become batches, each key once a batch, errors per item."""

import asyncio
from collections.abc import Sequence

import pytest

from bizbus.connectors.errors import RejectedError, TransientError
from bizbus.flows.runtime.coalesce import Coalescer


async def test_concurrent_submits_share_batches_of_at_most_max_items() -> None:
    seen: list[list[int]] = []

    async def run(items: Sequence[int]) -> list[int | Exception]:
        seen.append(list(items))
        return [item * 10 for item in items]

    coalescer: Coalescer[int, int] = Coalescer(run, max_items=4, linger_s=0.05)
    results = await asyncio.gather(*(coalescer.submit(i, i) for i in range(10)))
    assert results == [i * 10 for i in range(10)]
    assert [len(batch) for batch in seen] == [4, 4, 2]
    assert sorted(i for batch in seen for i in batch) == list(range(10))


async def test_a_key_appears_once_per_batch_and_its_later_item_waits() -> None:
    seen: list[list[tuple[str, int]]] = []

    async def run(items: Sequence[tuple[str, int]]) -> list[int | Exception]:
        seen.append(list(items))
        return [value for _, value in items]

    coalescer: Coalescer[tuple[str, int], int] = Coalescer(run, max_items=10, linger_s=0.01)
    jobs = [("a", 1), ("b", 1), ("a", 2), ("a", 3)]
    assert await asyncio.gather(*(coalescer.submit(k, (k, v)) for k, v in jobs)) == [1, 1, 2, 3]
    assert seen == [[("a", 1), ("b", 1)], [("a", 2)], [("a", 3)]]


async def test_an_item_error_is_its_own_and_a_batch_error_is_everyones() -> None:
    calls = 0

    async def run(items: Sequence[int]) -> list[int | Exception]:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise TransientError("down", system="crm")
        return [RejectedError("bad") if item == 1 else item for item in items]

    coalescer: Coalescer[int, int] = Coalescer(run, max_items=3, linger_s=0.01)
    first = await asyncio.gather(*(coalescer.submit(i, i) for i in range(3)),
                                 return_exceptions=True)  # fmt: skip
    assert first[0] == 0 and isinstance(first[1], RejectedError) and first[2] == 2
    second = await asyncio.gather(*(coalescer.submit(i, i) for i in range(2)),
                                  return_exceptions=True)  # fmt: skip
    assert all(isinstance(r, TransientError) for r in second)


async def test_a_lone_submit_waits_only_for_the_linger() -> None:
    async def run(items: Sequence[int]) -> list[int | Exception]:
        return list(items)

    coalescer: Coalescer[int, int] = Coalescer(run, max_items=200, linger_s=0.01)
    assert await asyncio.wait_for(coalescer.submit("k", 7), timeout=2) == 7


def test_settings_are_checked() -> None:
    async def run(items: Sequence[int]) -> list[int | Exception]:
        return list(items)

    with pytest.raises(ValueError, match="max_items"):
        Coalescer(run, max_items=0, linger_s=0.01)
