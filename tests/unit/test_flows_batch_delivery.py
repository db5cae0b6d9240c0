"""The batch loop's writes: grouped per partition in order, committed only up to an acked prefix."""

import asyncio
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import KafkaTimeoutError
from aiokafka.partitioner import murmur2

from bizbus.flows.runtime.batch_delivery import Delivery, InFlight, Outgoing, by_partition
from bizbus.flows.runtime.batch_runner import cached_partitioner

A, B = TopicPartition("in", 0), TopicPartition("in", 1)


def _by_first_byte(key: bytes | None, all_partitions: list[int], _: list[int]) -> int:
    return all_partitions[(key or b"\0")[0] % len(all_partitions)]


def test_outputs_are_grouped_per_partition_in_the_order_handled() -> None:
    outgoing: list[Outgoing] = [("out", bytes([n % 3]), str(n).encode(), []) for n in range(9)] + [
        ("other", b"\1", b"x", [("h", b"1")])
    ]
    groups = by_partition(outgoing, {"out": [0, 1, 2], "other": [0, 1]}, _by_first_byte)
    assert sorted(groups) == [("other", 1), ("out", 0), ("out", 1), ("out", 2)]
    assert [value for _, _, value, _ in groups[("out", 1)]] == [b"1", b"4", b"7"]
    assert groups[("other", 1)] == [("other", b"\1", b"x", [("h", b"1")])]


def test_the_cached_partitioner_is_kafkas_default_partitioning() -> None:
    for key in (b"801abc", b"801J8000003aBcDIAU", "订单".encode()):
        expected = (murmur2(key) & 0x7FFFFFFF) % 12
        assert cached_partitioner(key, list(range(12)), list(range(12))) == expected


def _delivery(starts: dict[TopicPartition, int], ends: dict[TopicPartition, int]) -> Delivery:
    loop = asyncio.get_running_loop()
    return Delivery(starts, ends, sum(ends[tp] - starts[tp] for tp in ends), [loop.create_future()])


async def test_only_the_acked_prefix_is_committed() -> None:
    flight = InFlight()
    first, second, third = (
        _delivery({A: 0}, {A: 10}),
        _delivery({A: 10, B: 0}, {A: 20, B: 5}),
        _delivery({B: 5}, {B: 9}),
    )
    for delivery in (first, second, third):
        flight.add(delivery)
    third.acks[0].set_result(None)
    assert flight.acked() == ({}, 0), "the oldest is not acked: nothing may be committed"
    first.acks[0].set_result(None)
    assert flight.acked() == ({A: 10}, 10)
    second.acks[0].set_result(None)
    assert flight.acked() == ({A: 20, B: 9}, 19), "later batches end further on"
    assert len(flight) == 0


async def test_a_failed_batch_is_never_committed_and_rewinds_to_the_oldest_offsets() -> None:
    flight = InFlight()
    first, second = _delivery({A: 0}, {A: 10}), _delivery({A: 10, B: 3}, {A: 20, B: 5})
    flight.add(first)
    flight.add(second)
    first.acks[0].set_exception(KafkaTimeoutError())
    second.acks[0].set_result(None)
    await flight.settle()  # never raises
    assert isinstance(flight.oldest() and first.error(), KafkaTimeoutError)
    assert flight.acked() == ({}, 0)
    assert flight.rewind({B: 5, TopicPartition("in", 2): 7}) == {
        A: 0,
        B: 3,
        TopicPartition("in", 2): 7,
    }
    assert len(flight) == 0


async def test_a_batch_without_outputs_is_done_at_once() -> None:
    flight = InFlight()
    flight.add(Delivery({A: 0}, {A: 4}, 4, []))
    assert flight.acked() == ({A: 4}, 4)


@pytest.mark.parametrize("cancelled", [True, False])
async def test_a_cancelled_or_failed_ack_is_an_error(cancelled: bool) -> None:
    delivery = _delivery({A: 0}, {A: 1})
    ack: Any = delivery.acks[0]
    if cancelled:
        ack.cancel()
    else:
        ack.set_exception(KafkaTimeoutError())
    assert delivery.done()
    assert delivery.error() is not None
