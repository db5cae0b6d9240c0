"""The bench's pure parts: its records, percentiles, medians and ratios, and the JSON it prints."""

from bizbus.deploy.bench.measure import percentile
from bizbus.deploy.bench.records import (
    order_id,
    placed_orders,
    revision_of,
    sales_order_commands,
)
from bizbus.deploy.bench.report import FIGURES, Results
from bizbus.deploy.bench.run import figure_wanted
from bizbus.schemas import OrderPlacedV1, SalesOrderRequestedV1, decode_record


def test_placed_orders_are_real_1kb_events_spread_over_the_keys() -> None:
    records = placed_orders(20, keys=5, tag="t1")
    assert len({key for key, _, _ in records}) == 5
    assert all(900 <= len(value) <= 1400 for _, value, _ in records)
    events = [decode_record(value, headers) for _, value, headers in records]
    assert all(isinstance(event.data, OrderPlacedV1) for event in events)
    assert len({event.id for event in events}) == 20, "every record is a new event"
    assert events[0].subject == order_id("t1", 0) == records[0][0].decode()


def test_sales_order_commands_come_in_revision_order_per_key() -> None:
    records = sales_order_commands(["801a", "801b"], revisions=2)
    commands = [decode_record(value, headers).data for _, value, headers in records]
    assert all(isinstance(command, SalesOrderRequestedV1) for command in commands)
    seen = [(c.crm_order_id, revision_of(f"CRM {c.crm_order_number}")) for c in commands]
    assert seen == [("801a", 1), ("801a", 2), ("801b", 1), ("801b", 2)]


def test_revision_is_read_back_from_the_erp_origin_only_when_there() -> None:
    assert revision_of("CRM 801x/r12") == 12
    assert revision_of("CRM 801x") is None
    assert revision_of(False) is None
    assert revision_of("/r3") is None


def test_percentile_is_nearest_rank() -> None:
    values = [float(n) for n in range(1, 1001)]
    assert percentile(values, 0.5) == 500
    assert percentile(values, 0.99) == 990
    assert percentile(values, 0.999) == 999
    assert percentile([7.0], 0.999) == 7
    assert percentile([], 0.5) == 0


def test_ratio_is_the_median_of_per_round_ratios() -> None:
    results = Results({"rounds": 3})
    for pipe, stage in ((10_000.0, 1_000.0), (20_000.0, 1_000.0), (5_000.0, 1_000.0)):
        results.add("C0", {"events_per_s": pipe})
        results.add("P1", {"events_per_s": stage})
    [p1] = [figure for figure in FIGURES if figure.id == "P1"]
    assert results.ratio(p1) == 0.1  # rounds: 0.1, 0.05, 0.2
    assert results.median("P1") == {"events_per_s": 1_000.0}


def test_json_keys_each_figure_by_id_with_its_baseline_and_rounds() -> None:
    results = Results({"rounds": 1})
    results.add("H0", {"calls_per_s": 400.0})
    results.add("P2", {"calls_per_s": 100.0, "order_kept": 1.0})
    results.add("P4.base", {"catch_up_events_per_s": 20_000.0, "crash_resume_s": 10.0})
    results.add("P4", {"catch_up_events_per_s": 1_000.0, "crash_resume_s": 60.0})
    report = results.as_json()
    assert report["bench"] == {"rounds": 1}
    assert report["P2"]["ratio"] == 0.25 and report["P2"]["order_kept"] is True
    assert report["P2"]["baseline"]["id"] == "H0"
    assert report["P2"]["baseline"]["calls_per_s"] == 400.0
    assert report["P4"]["ratio"] == 0.05
    assert report["P4"]["baseline"]["crash_resume_s"] == 10.0
    assert report["P4"]["rounds"] == [{"catch_up_events_per_s": 1_000.0, "crash_resume_s": 60.0}]
    assert "C0" not in report
    assert results.table().row_count == 2 + 2  # H0, P2, and P4's two rows


def test_named_figures_run_alone_and_p3_brings_the_p1_it_is_paced_by() -> None:
    assert all(figure_wanted(figure, frozenset()) for figure in ("P1", "P2", "P3", "P4", "I"))
    assert figure_wanted("P2", frozenset({"P2"}))
    assert not figure_wanted("P1", frozenset({"P2"}))
    assert figure_wanted("P1", frozenset({"P3"}))
    assert not figure_wanted("P4", frozenset({"P3"}))
