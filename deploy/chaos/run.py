"""Run the chaos scenarios on one stack, print the table (or JSON) and say whether all held.

Scenarios share the stack, in a fixed order (R1, R2, R3, R4, R5, S1, S3; R2 brings its own
3-node cluster and stack): each counts only what it did (its own orders, records and
requests), and S3 searches everything the run left behind. A scenario that breaks off
(something never happened in time) fails with its reason; the others still run.
"""

import asyncio
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from rich.console import Console

from bizbus.deploy.chaos.broker_kill import BrokerKillPlan, run_broker_kill
from bizbus.deploy.chaos.kafka_security import SecurityPlan, run_kafka_security
from bizbus.deploy.chaos.leaks import run_leaks
from bizbus.deploy.chaos.outages import OutagePlan, run_outages
from bizbus.deploy.chaos.poison import PoisonPlan, run_poison
from bizbus.deploy.chaos.rebalance import RebalancePlan, run_rebalance
from bizbus.deploy.chaos.report import ScenarioResult, print_table, to_json
from bizbus.deploy.chaos.stack import ChaosStack, Progress
from bizbus.deploy.chaos.webhooks import WebhookPlan, run_webhooks
from bizbus.deploy.chaos.worker_kill import KillPlan, run_worker_kill

__all__ = ["SCENARIOS", "ChaosOptions", "collect", "run_chaos"]

SCENARIOS = ("R1", "R2", "R3", "R4", "R5", "S1", "S2", "S3")
OWN_STACK = {"R2", "S2"}  # scenarios that start a cluster and stack of their own
FULL_WINDOWS_S = (10.0, 120.0, 600.0)  # R3's fault windows in a full run: every kind, each length


@dataclass(frozen=True)
class ChaosOptions:
    """What to run and how big (`quick`: the short version the test command runs)."""

    quick: bool = False
    bootstrap: str | None = None
    scenarios: tuple[str, ...] = SCENARIOS
    orders: int | None = None  # R1's orders; default 200 quick, 20,000 full
    outage_s: tuple[float, ...] = ()  # R3's windows per fault; default 10 s quick, see FULL
    seed: int = field(default_factory=lambda: int(time.time()))
    run_dir: Path | None = None

    @property
    def workers(self) -> int:
        """Return the size of the worker group."""
        return 2 if self.quick else 3


def _plans(
    options: ChaosOptions,
) -> dict[str, Callable[[ChaosStack, Progress], Awaitable[ScenarioResult]]]:
    quick = options.quick
    kill = KillPlan(orders=options.orders or (200 if quick else 20_000),
                    kills=2 if quick else 5, seed=options.seed)  # fmt: skip
    broker = BrokerKillPlan(orders=100 if quick else 1_000, kills=2 if quick else 5,
                            seed=options.seed)  # fmt: skip
    outage = OutagePlan(windows_s=options.outage_s or ((10.0,) if quick else FULL_WINDOWS_S),
                        per_s=5.0 if quick else 6.0)  # fmt: skip
    poison = PoisonPlan(bad=200 if quick else 5_000, good=20 if quick else 200,
                        webhooks=50 if quick else 300, seed=options.seed)  # fmt: skip
    rebalance = RebalancePlan(orders=150 if quick else 1_000, per_s=5.0 if quick else 8.0)
    hooks = WebhookPlan(each=10 if quick else 100, restart=True)
    security = SecurityPlan(
        plaintext_tries=5 if quick else 50, records_per_topic=1 if quick else 10
    )
    return {
        "R1": lambda stack, progress: run_worker_kill(stack, kill, progress),
        "R2": lambda stack, progress: run_broker_kill(stack, broker, progress),
        "R3": lambda stack, progress: run_outages(stack, outage, progress),
        "R4": lambda stack, progress: run_rebalance(stack, rebalance, progress),
        "R5": lambda stack, progress: run_poison(stack, poison, progress),
        "S1": lambda stack, progress: run_webhooks(stack, hooks, progress),
        "S2": lambda stack, progress: run_kafka_security(stack, security, progress),
        "S3": lambda stack, progress: run_leaks(stack, progress),
    }


async def collect(options: ChaosOptions, progress: Progress) -> list[ScenarioResult]:
    """Start the stack, run the chosen scenarios in order, stop the stack; return the results."""
    run_dir = options.run_dir or Path(tempfile.mkdtemp(prefix="bizbus-chaos-"))
    stack = ChaosStack(run_dir, bootstrap=options.bootstrap, progress=progress)
    plans = _plans(options)
    results: list[ScenarioResult] = []
    try:
        if set(options.scenarios) - OWN_STACK:
            await asyncio.to_thread(stack.start, options.workers)
        for scenario in options.scenarios:
            progress(f"{scenario}: starting")
            began = time.monotonic()
            try:
                result = await plans[scenario](stack, progress)
            except Exception as error:  # noqa: BLE001 - a broken-off scenario is a failed one
                result = ScenarioResult(
                    scenario, "(broke off)", error=f"{type(error).__name__}: {error}"
                )
                result.crashes = stack.count_crashes()
            result.figures["scenario s"] = round(time.monotonic() - began, 1)
            verdict = "pass" if result.passed else "FAIL " + ", ".join(result.failed_targets())
            progress(f"{scenario}: {verdict}")
            results.append(result)
    finally:
        await asyncio.to_thread(stack.stop)
        if options.run_dir is None and all(r.passed for r in results):
            shutil.rmtree(run_dir, ignore_errors=True)
        elif results:
            progress(f"logs and databases kept in {run_dir}")
    return results


def run_chaos(options: ChaosOptions, *, as_json: bool) -> int:
    """Run the suite and print the table (on stderr with --json); return 1 if a target failed."""
    console = Console(stderr=True)
    began = time.monotonic()

    def progress(line: str) -> None:
        console.print(f"[dim]{time.monotonic() - began:6.1f}s[/dim] {line}", highlight=False)

    results = asyncio.run(collect(options, progress))
    print_table(results, Console(stderr=as_json))
    if as_json:
        sys.stdout.write(orjson.dumps(to_json(results), option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0 if results and all(r.passed for r in results) else 1
