"""Our murmur2 is Kafka's: the same partition as aiokafka's (and the Java client's) for any key."""

import random

import pytest
from aiokafka.partitioner import murmur2 as aiokafka_murmur2

from bizbus.flows.runtime.murmur import murmur2


@pytest.mark.parametrize("length", range(41))
def test_every_length_and_tail_hashes_as_aiokafka_does(length: int) -> None:
    rng = random.Random(length)
    for _ in range(50):
        key = rng.randbytes(length)
        assert murmur2(key) == aiokafka_murmur2(key)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (b"21", -973932308),
        (b"foobar", -790332482),
        (b"a-little-bit-long-string", -985981536),
        (b"a-little-bit-longer-string", -1486304829),
        (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
        (b"abc", 479470107),
    ],
)
def test_the_java_clients_reference_values(key: bytes, expected: int) -> None:
    """Values from Kafka's own UtilsTest (signed 32-bit there)."""
    assert murmur2(key) == expected & 0xFFFFFFFF


def test_high_bytes_are_unsigned() -> None:
    key = bytes(range(256))
    assert murmur2(key) == aiokafka_murmur2(key)
    assert murmur2(b"\xff\xfe\xfd") == aiokafka_murmur2(b"\xff\xfe\xfd")
