"""The write-log: echoes recognised by hash within the TTL, spent once seen, storms refused."""

from typing import Any

import pytest

from bizbus.flows.catalog.writelog import (
    EditStorm,
    WriteLog,
    matched_writes,
    overwritten_fields,
    remember_write,
    value_hash,
)
from tests.unit.test_flows_fakes import settle

LIMITS: dict[str, Any] = {"ttl_s": 3600.0, "max_writes": 3, "window_s": 60.0}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def log_with(clock: Clock) -> tuple[WriteLog, dict[str, Any], dict[str, Any]]:
    table: dict[str, Any] = {}
    seen: dict[str, Any] = {}
    return WriteLog(table, seen, clock=clock, **LIMITS), table, seen


def test_value_hash_is_stable_and_tells_values_apart() -> None:
    assert value_hash("132000.00") == value_hash("132000.00")
    assert value_hash("132000.00") != value_hash("132000.0")
    assert value_hash(None) != value_hash("")


def test_echo_of_our_own_write_is_dropped_and_a_human_value_is_not() -> None:
    clock = Clock()
    log, _, _ = log_with(clock)
    log.remember("crm", "PricebookEntry", "HL-CK6150", {"list_price": "132000.00"})
    clock.now += 2
    assert log.echoes("crm", "PricebookEntry", "HL-CK6150", {"list_price": "132000.00"},
                      own=True) == {"list_price"}  # fmt: skip
    assert log.echoes("crm", "PricebookEntry", "HL-CK6150", {"list_price": "99999.00"},
                      own=False) == set()  # fmt: skip


async def test_a_spent_echo_is_not_matched_again_once_its_mark_is_delivered() -> None:
    clock = Clock()
    log, _, seen = log_with(clock)
    log.remember("erp", "product.template", "HL-CK6150", {"description": "A"})
    marks = log.consume("erp", "product.template", "HL-CK6150", {"description": "A"})
    assert seen == {}, "spent only once the events it led to are acked"
    await settle(marks)
    assert log.echoes("erp", "product.template", "HL-CK6150", {"description": "A"},
                      own=False) == set()  # fmt: skip


def test_a_coalesced_echo_spends_older_writes_too() -> None:
    entry = remember_write(None, {"revision": "B"}, now=1.0, **LIMITS)
    entry = remember_write(entry, {"revision": "C"}, now=2.0, **LIMITS)
    consumed = matched_writes(entry, {"revision": "C"}, consumed={}, now=3.0, ttl_s=3600)
    assert consumed == {"revision": 2.0}
    assert matched_writes(entry, {"revision": "B"}, consumed=consumed, now=3.0, ttl_s=3600) == {}


def test_writes_past_the_ttl_are_forgotten() -> None:
    entry = remember_write(None, {"name": "X"}, now=0.0, **LIMITS)
    assert matched_writes(entry, {"name": "X"}, consumed={}, now=3601.0, ttl_s=3600) == {}


def test_the_system_hint_decides_only_when_the_log_remembers_nothing() -> None:
    clock = Clock()
    log, _, _ = log_with(clock)
    assert log.echoes("crm", "Product2", "HL-X", {"name": "N"}, own=True) == {"name"}
    assert log.echoes("crm", "Product2", "HL-X", {"name": "N"}, own=False) == set()
    log.remember("crm", "Product2", "HL-X", {"revision": "C"})
    # our hint says we wrote last, but the log knows we wrote only the revision
    assert log.echoes("crm", "Product2", "HL-X", {"name": "N"}, own=True) == set()


def test_a_write_overwritten_before_the_feed_saw_it_is_a_change() -> None:
    entry = remember_write(None, {"list_price": "132000.00"}, now=10.0, **LIMITS)
    human = {"list_price": "100000.00"}
    assert overwritten_fields(entry, human, consumed={}, since=5.0, now=11, ttl_s=3600) == {
        "list_price"
    }
    ours = {"list_price": "132000.00"}
    assert overwritten_fields(entry, ours, consumed={}, since=5.0, now=11, ttl_s=3600) == set()
    assert overwritten_fields(entry, human, consumed={}, since=12.0, now=13, ttl_s=3600) == set()


def test_an_edit_storm_is_refused_past_the_budget_and_allowed_again_later() -> None:
    entry = None
    for second in range(3):
        entry = remember_write(entry, {"description": str(second)}, now=float(second), **LIMITS)
    with pytest.raises(EditStorm, match="3 writes to one record within 60 s"):
        remember_write(entry, {"description": "again"}, now=3.0, **LIMITS)
    later = remember_write(entry, {"description": "calm"}, now=100.0, **LIMITS)
    assert later["burst"] == [100.0, 1]
