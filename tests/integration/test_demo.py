"""The main job as a user runs it: `bizbus demo` plays the whole story and verifies it."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _our_processes() -> list[str]:
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True)
    return [
        line for line in ps.stdout.splitlines()
        if "/demo/" in line and ("kafka.Kafka" in line or "deploy.sandbox serve" in line)
    ]  # fmt: skip


def _demo(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "bizbus.deploy", "demo", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=600, env={**os.environ, "COLUMNS": "160"},
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    for step in range(1, 11):
        assert f"✓ {step}." in output, output[-4000:]
    return output


def test_demo_plays_trade_show_to_delivery_and_cleans_up() -> None:
    before = set(_our_processes())
    output = _demo("--orders", "3")
    assert "All 10 steps verified" in output
    assert "3 order(s) confirmed in the ERP" in output
    assert "Confirmed" in output and "Invoiced" in output
    assert "Available_Quantity__c = " in output  # the stock step read the CRM product back
    assert "sale → cancel" in output  # the cancelled order, read back from the ERP
    assert set(_our_processes()) <= before, "the demo left Kafka or a sandbox running"


def test_demo_plays_the_oa_steps_on_dingtalk() -> None:
    before = set(_our_processes())
    output = _demo("--oa", "dingtalk")
    assert "OA (dingtalk)" in output and "All 10 steps verified" in output
    assert "held until the OA approved, then placed once" in output  # the discount step
    assert set(_our_processes()) <= before, "the demo left Kafka or a sandbox running"
