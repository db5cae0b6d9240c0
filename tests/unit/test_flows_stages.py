"""BIZBUS_STAGES: a worker runs only the stages it names (agents, `poll`), and refuses typos."""

import pytest

from bizbus.connectors.errors import ConfigError
from bizbus.flows.settings import RuntimeSettings
from bizbus.flows.worker import build_worker, worker_topics
from bizbus.schemas import KeyRing


def _agents(*, flows: str, stages: str = "") -> set[str]:
    """Return the stages that run: faust agents and the pure stages of the batch loop."""
    app, runtime = build_worker(
        RuntimeSettings(app_id="acme", flows=flows, stages=stages), keys=KeyRing.generate()
    )
    return set(app.agents) | {stage.name for found in runtime.pure.values() for stage in found}


def test_empty_stages_run_every_agent_and_the_poller() -> None:
    agents = _agents(flows="orders")
    assert {"sales-order-requests", "erp-sales-orders", "crm-orders", "poll"} <= agents


def test_named_stages_are_the_only_agents() -> None:
    agents = _agents(flows="orders", stages="sales-order-requests, erp-sales-orders")
    assert agents == {"sales-order-requests", "erp-sales-orders"}


def test_poll_left_out_means_no_polling_and_no_feed_wait() -> None:
    settings = RuntimeSettings(app_id="acme", flows="orders", stages="crm-orders")
    app, runtime = build_worker(settings, keys=KeyRing.generate())
    assert set(app.agents) == {"crm-orders"} and not runtime.poller.feeds
    topics = {plan.name for plan in worker_topics(app, settings)}
    assert "acme-poll-ticks" not in topics and "acme-poll-cursors-changelog" not in topics
    everything = RuntimeSettings(app_id="acme", flows="orders")
    assert "acme-poll-ticks" in {
        plan.name
        for plan in worker_topics(build_worker(everything, keys=KeyRing.generate())[0], everything)
    }


def test_poll_alone_runs_only_the_poller() -> None:
    assert _agents(flows="orders", stages="poll") == {"poll"}


def test_unknown_stage_is_a_config_error_listing_the_known_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        build_worker(
            RuntimeSettings(app_id="acme", flows="orders", stages="sales-order-request"),
            keys=KeyRing.generate(),
        )
    message = str(caught.value)
    assert "BIZBUS_STAGES" in message
    assert "'sales-order-request'" in message
    assert "'sales-order-requests'" in message and "'poll'" in message
