"""The quiet wait reads poll passes and pending records from a `/metrics` scrape."""

from bizbus.deploy.watch import WorkerCounters, polled_since

SCRAPE = """\
# HELP bizbus_poll_passes_total Polls of a change feed finished (or failed).
# TYPE bizbus_poll_passes_total counter
bizbus_poll_passes_total{feed="erp.product-model"} 7.0
bizbus_poll_passes_total{feed="crm.order"} 3.0
# HELP bizbus_consumer_lag Records in a partition not yet fetched.
# TYPE bizbus_consumer_lag gauge
bizbus_consumer_lag{group="g",partition="0",topic="src.erp.product"} 2.0
bizbus_consumer_lag{group="g",partition="1",topic="src.erp.product"} 0.0
# HELP bizbus_stage_backlog Records fetched and not yet done.
# TYPE bizbus_stage_backlog gauge
bizbus_stage_backlog{flow="catalog",stage="erp-products"} 1.0
# HELP bizbus_worker_ready 1 when /readyz answers 200.
# TYPE bizbus_worker_ready gauge
bizbus_worker_ready 1.0
"""


def test_a_scrape_gives_passes_per_feed_and_every_pending_record() -> None:
    counters = WorkerCounters.parse(SCRAPE)
    assert counters.passes == {"erp.product-model": 7.0, "crm.order": 3.0}
    assert counters.pending == 3.0


def test_a_caught_up_worker_has_nothing_pending() -> None:
    quiet = SCRAPE.replace("} 2.0", "} 0.0").replace(
        "} 1.0\n# HELP bizbus_worker", "} 0.0\n# HELP bizbus_worker"
    )
    assert WorkerCounters.parse(quiet).pending == 0.0


def test_polled_since_needs_every_feed_to_have_polled_enough_more_times() -> None:
    start = WorkerCounters.parse(SCRAPE)
    later = WorkerCounters.parse(SCRAPE.replace("} 7.0", "} 9.0"))
    assert polled_since(start, later, ["erp.product-model"], polls=2)
    assert not polled_since(start, later, ["erp.product-model"], polls=3)
    assert not polled_since(start, later, ["erp.product-model", "crm.order"], polls=1)
    assert not polled_since(start, later, ["erp.unknown"], polls=1)
