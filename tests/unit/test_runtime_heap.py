"""The worker's heap settling: start-up objects leave the collector's scans, young gen widened."""

import gc
from collections.abc import Iterator

import pytest

from bizbus.flows.runtime.heap import YOUNG_THRESHOLD, settle_heap


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored_gc")
def test_settling_freezes_what_lives_and_widens_only_the_young_generation() -> None:
    _, middle, old = gc.get_threshold()
    kept = [[n] for n in range(1000)]  # containers alive at start-up
    frozen = settle_heap()
    assert frozen == gc.get_freeze_count() >= len(kept)
    assert gc.get_threshold() == (YOUNG_THRESHOLD, middle, old)
    assert not any(item is kept for item in gc.get_objects(generation=2)), "frozen: not scanned"
