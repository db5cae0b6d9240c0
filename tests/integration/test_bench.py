"""`bizbus bench --quick --json` on the session's broker: every figure is there, and positive.

A smoke test of the bench itself (real broker, sandbox ERP, workers and pipes); the figures of
a quick run on a shared test machine say nothing about speed, so no threshold is asserted.
"""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[2]
MARK_VARIABLE = "BIZBUS_TEST_BENCH_MARK"  # read by nothing: it only marks the children
FIGURES = {
    "C0": ["events_per_s"],
    "P1": ["events_per_s", "ratio"],
    "H0": ["calls_per_s"],
    "P2": ["calls_per_s", "ratio"],
    "P3": ["rate_per_s", "p50_ms", "p99_ms", "p999_ms"],
    "P4": ["catch_up_events_per_s", "crash_resume_s", "ratio"],
    "I": ["idle_calls_per_day_crm", "idle_calls_per_day_erp", "crm_change_to_kafka_ms"],
    "C": ["idle_calls_per_day_crm", "crm_change_to_kafka_ms"],
}
BASELINES = {
    "P1": ["events_per_s"],
    "P2": ["calls_per_s"],
    "P3": ["p50_ms", "p99_ms", "p999_ms"],
    "P4": ["catch_up_events_per_s", "crash_resume_s"],
}


def _bench_processes(mark: str) -> set[int]:
    """Pids of processes this test's bench started: every child inherits its marked environment.

    Matching on the environment, not on command lines, keeps another bench on the same machine
    (a developer's, another suite's) out of the count.
    """
    found = set()
    needle = f"\0{MARK_VARIABLE}={mark}\0".encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            env = proc.joinpath("environ").read_bytes()
        except OSError:
            continue
        if needle in b"\0" + env + b"\0":
            found.add(int(proc.name))
    return found


@pytest.mark.timeout(780)
def test_quick_bench_reports_every_figure_beside_its_baseline(kafka_bootstrap: str) -> None:
    mark = uuid.uuid4().hex
    result = subprocess.run(
        [sys.executable, "-m", "bizbus.deploy", "bench", "--quick", "--json",
         "--bootstrap", kafka_bootstrap],
        cwd=ROOT, capture_output=True, text=True, timeout=760,
        env={**os.environ, "COLUMNS": "160"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout)
    for figure, names in FIGURES.items():
        assert figure in report, f"{figure} missing: {sorted(report)}"
        for name in names:
            value = report[figure][name]
            assert isinstance(value, float) and value > 0, (figure, name, value)
    for figure, names in BASELINES.items():
        for name in names:
            value = report[figure]["baseline"][name]
            assert isinstance(value, float) and value > 0, (figure, "baseline", name, value)
    assert set(report["idle_calls_per_day"]) == {"crm", "erp", "oa"}
    assert isinstance(report["cdc_p50_ms"], float) and report["cdc_p50_ms"] > 0
    assert report["P2"]["order_kept"] is True
    assert report["bench"]["quick"] is True
    assert not _bench_processes(mark), "the bench left processes running"
