"""Adaptive poll intervals and the rolling daily API budget (pure: the clock is an argument)."""

import math

import pytest

from bizbus.flows.runtime.budget import DAY_S, SLOT_S, ApiBudget, Cadence, budget_key


def test_an_empty_poll_doubles_the_interval_up_to_the_idle_interval() -> None:
    cadence = Cadence(fast_s=2.0, idle_s=120.0)
    assert cadence.is_due(0.0)  # a new unit polls at once
    now, seen = 0.0, []
    for _ in range(9):
        cadence.polled(now, found=False)
        seen.append(cadence.interval_s)
        now = cadence.due
    assert seen == [4.0, 8.0, 16.0, 32.0, 64.0, 120.0, 120.0, 120.0, 120.0]


def test_a_poll_that_found_changes_polls_again_after_the_fast_interval() -> None:
    cadence = Cadence(fast_s=2.0, idle_s=120.0, interval_s=120.0)
    cadence.polled(100.0, found=True)
    assert cadence.interval_s == 2.0 and cadence.due == 102.0
    assert not cadence.is_due(101.9) and cadence.is_due(102.0)


def test_a_hurry_makes_an_idle_unit_due_at_once() -> None:
    cadence = Cadence(fast_s=2.0, idle_s=120.0, interval_s=120.0, due=500.0)
    cadence.hurry(400.0)
    assert cadence.is_due(400.0) and cadence.interval_s == 2.0


def test_an_idle_interval_below_the_fast_one_is_the_fast_one() -> None:
    assert Cadence(fast_s=5.0, idle_s=1.0).idle_s == 5.0


def test_calls_count_for_24_hours_then_leave_the_window() -> None:
    budget = ApiBudget(limit=100)
    budget.record(1_000_000.0, 30)
    budget.record(1_000_000.0 + 3600, 20)
    assert budget.spent(1_000_000.0 + 3600) == 50
    # A slot counts while any part of it lies within the window: never under-counted.
    assert budget.spent(1_000_000.0 + DAY_S) == 50
    assert budget.spent(1_000_000.0 + DAY_S + SLOT_S) == 20
    assert budget.spent(1_000_000.0 + 3600 + DAY_S + SLOT_S) == 0


def test_a_poll_is_allowed_only_while_it_fits_the_budget() -> None:
    budget = ApiBudget(limit=10)
    budget.record(0.0, 9)
    assert budget.allows(1.0, 1)
    assert not budget.allows(1.0, 2)
    budget.record(1.0, 1)
    assert not budget.allows(2.0)
    assert budget.frees_at(2.0) == SLOT_S + DAY_S  # when the first slot leaves the window
    assert ApiBudget(limit=None).allows(0.0, 10**9)


def test_polls_spread_out_from_half_the_budget_and_stop_at_it() -> None:
    budget = ApiBudget(limit=1000)
    budget.record(0.0, 499)
    assert budget.pace_s(0.0) == 0.0
    budget.record(0.0, 1)
    assert budget.pace_s(0.0) == pytest.approx(DAY_S / 500)  # what is left, over a whole day
    budget.record(0.0, 400)
    assert budget.pace_s(0.0) == pytest.approx(DAY_S / 100)  # slower as it runs down
    budget.record(0.0, 100)
    assert math.isinf(budget.pace_s(0.0))
    assert ApiBudget(limit=None).pace_s(0.0) == 0.0


def test_a_stored_ledger_resumes_where_it_stood() -> None:
    budget = ApiBudget(limit=50)
    budget.record(7_200.0, 12)
    budget.record(9_000.0, 3)
    stored = budget.to_json()
    assert all(isinstance(key, str) for key in stored["slots"])  # JSON-safe
    again = ApiBudget.from_json(stored, limit=50)
    assert again.spent(9_000.0) == 15 and again.limit == 50
    assert ApiBudget.from_json(None, limit=5).spent(0.0) == 0
    assert ApiBudget.from_json({"slots": "garbage"}, limit=5).slots == {}


def test_ledger_keys_never_collide_with_feed_names() -> None:
    assert budget_key("crm") == "~budget.crm"
