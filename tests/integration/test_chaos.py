"""`bizbus chaos --quick`, as a user runs it, meets every zero target it publishes.

One run of the real command against the session broker: workers killed, the ERP, CRM and OA
broken four ways, the group rescaled, poison on every source topic, a flood of bad webhooks, a
hunt for canaries. R2 (a 3-node cluster of its own, three more JVMs) is left to
`bizbus chaos -s R2`. The verdicts are read from its `--json`; the counts behind them come from
the sandboxes and Kafka.
"""

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from bizbus.deploy.chaos.run import OWN_STACK, SCENARIOS

ROOT = Path(__file__).resolve().parents[2]
ON_SESSION_BROKER = [s for s in SCENARIOS if s not in OWN_STACK]


@pytest.mark.timeout(900)  # a stack, 2 workers and six scenarios on a busy 2-core machine
def test_the_quick_chaos_suite_loses_doubles_leaks_and_crashes_nothing(
    kafka_bootstrap: str,
) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bizbus.deploy", "chaos", "--quick", "--json", "--seed", "18",
         "--bootstrap", kafka_bootstrap, *(f"-s{s}" for s in ON_SESSION_BROKER)],
        capture_output=True, text=True, timeout=900, cwd=ROOT, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert run.stdout.strip(), run.stderr[-5000:]
    report = orjson.loads(run.stdout)
    scenarios = report["scenarios"]
    assert sorted(scenarios) == sorted(ON_SESSION_BROKER), run.stderr[-5000:]
    failed = {name: s["failed"] for name, s in scenarios.items() if s["failed"]}
    assert not failed, f"{failed}\n{run.stderr[-5000:]}"
    assert report["passed"] is True and run.returncode == 0
    # The zeros are counts of real work, not of nothing done.
    assert scenarios["R1"]["n"] == 200
    assert scenarios["R3"]["n"] >= 200
    assert scenarios["R3"]["figures"]["OA 503: trips in ERP during outage"].endswith("/12")
    assert scenarios["R4"]["n"] == 150
    assert (
        scenarios["R5"]["figures"]["their dead letters"]
        >= scenarios["R5"]["figures"]["bad records"]
        > 0
    )
    assert scenarios["S1"]["n"] > 40
    assert scenarios["S3"]["figures"]["records searched"] > 1000


@pytest.mark.timeout(600)  # a secure node of its own and one kafka-acls JVM per ACL bundle
def test_the_secure_cluster_lets_no_stranger_in_and_keeps_the_worker_to_its_flows() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bizbus.deploy", "chaos", "--quick", "--json", "-sS2"],
        capture_output=True, text=True, timeout=600, cwd=ROOT, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert run.stdout.strip(), run.stderr[-5000:]
    s2 = orjson.loads(run.stdout)["scenarios"]["S2"]
    assert not s2["failed"] and run.returncode == 0, f"{s2['failed']}\n{run.stderr[-5000:]}"
    # The control: with its own ACLs the worker's principal does read and write.
    assert s2["figures"]["worker's own records read"] > 0
    assert s2["figures"]["plaintext refused"] == "5/5"
    assert s2["zeros"]["records read without ACLs"] == 0
