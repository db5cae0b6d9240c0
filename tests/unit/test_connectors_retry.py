"""One retry policy: backoff, Retry-After, when to give up, and the budget its docstring states."""

import pytest

from bizbus.connectors import retry
from bizbus.connectors.errors import RateLimited
from bizbus.connectors.retry import RetryPolicy
from bizbus.connectors.settings import ConnectorSettings
from bizbus.flows.settings import RuntimeSettings


def test_the_documented_total_budget_is_the_defaults_product() -> None:
    http = ConnectorSettings.model_fields["retry_attempts"].default
    guard = RuntimeSettings.model_fields["retry_max_attempts"].default
    assert http == RetryPolicy().attempts
    assert f"{http} x {guard} = {http * guard}" in (retry.__doc__ or "")


def test_backoff_doubles_up_to_its_cap_plus_jitter() -> None:
    policy = RetryPolicy(initial=0.2, max_backoff=1.0, jitter=0.1)
    for attempt, base in [(1, 0.2), (2, 0.4), (3, 0.8), (4, 1.0), (9, 1.0)]:
        assert base <= policy.delay(attempt) <= base + 0.1


def test_retry_after_is_honoured_as_the_wait() -> None:
    limited = RateLimited("429", system="crm", retry_after=7)
    assert RetryPolicy().delay(1, limited) == 7.0


def test_it_gives_up_after_its_attempts_or_when_the_wait_ends_too_late() -> None:
    policy = RetryPolicy(attempts=3, max_delay=10.0)
    assert not policy.gives_up(2, elapsed=1.0, wait=1.0)
    assert policy.gives_up(3, elapsed=1.0, wait=1.0)
    assert policy.gives_up(1, elapsed=8.0, wait=2.0)
    assert not RetryPolicy(attempts=3, max_delay=None).gives_up(2, elapsed=1e6, wait=60)


def test_a_policy_needs_one_attempt() -> None:
    with pytest.raises(ValueError, match="attempts"):
        RetryPolicy(attempts=0)
