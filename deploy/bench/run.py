"""`bizbus bench`: run the rounds, show progress, print the figures, stop what was started.

Every round measures each baseline and its figure back to back (their order alternating from
round to round), so both see the same machine. `--quick` is a smoke test: small sizes, one
round, and the worker's crash → resume wait (faust's session timeout) overlapping the other
figures, so its numbers show the bench works, not how fast anything is.
"""

import asyncio
import logging
import os
import shutil
import sys
import uuid
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka.errors import KafkaError
from rich.console import Console
from rich.status import Status

from bizbus.connectors.errors import ConfigError
from bizbus.deploy.bench import idle, scenarios
from bizbus.deploy.bench.erp import ErpSandbox
from bizbus.deploy.bench.kafka_io import BenchStalledError
from bizbus.deploy.bench.profile import ProfilerMissingError, own_time, py_spy, py_spy_path
from bizbus.deploy.bench.report import Results
from bizbus.deploy.bench.runners import Runner, WorkerRunner
from bizbus.deploy.bench.stack import BenchStack
from bizbus.deploy.kafka import KafkaRuntimeError, KafkaRuntimeSettings
from bizbus.deploy.sandbox.runner import SandboxError

__all__ = ["BenchOptions", "figure_wanted", "run_bench"]

Values = dict[str, float]
CDC_CHANGES = 11  # CRM changes timed with push on (their median is cdc_p50_ms)
Step = tuple[str, Callable[[], Awaitable[Values]]]


def figure_wanted(figure: str, figures: frozenset[str]) -> bool:
    """Whether `figure` runs: all do when none was named; P3 needs P1 (it runs at half its rate)."""
    return not figures or figure in figures or (figure == "P1" and "P3" in figures)


@dataclass(frozen=True)
class BenchOptions:
    """What `bizbus bench` was asked for."""

    rounds: int = 3
    quick: bool = False
    bootstrap: str | None = None
    concurrency: int = 8
    latency_ms: float = 10.0
    as_json: bool = False
    profile: Path | None = None
    idle_window_s: float = 300.0  # 0: skip the idle API-cost figure
    idle_scale: float = 10.0
    figures: frozenset[str] = frozenset()  # empty: all; P3 brings P1 (it runs at half P1's rate)


class _Bench:
    """One run: the stack, the records, the results, and the status line."""

    def __init__(self, options: BenchOptions, stack: BenchStack, status: Status) -> None:
        self.options = options
        self.stack = stack
        self.status = status
        self.sizes = scenarios.QUICK if options.quick else scenarios.FULL
        self.rounds = 1 if options.quick else options.rounds
        self.work = scenarios.Workload.build(self.sizes, stack.run_tag)
        self.results = Results(self._meta())
        self.console = Console(stderr=True)
        self.round_no = 0
        self.erp: ErpSandbox | None = None

    def _meta(self) -> dict[str, Any]:
        return {
            "rounds": self.rounds,
            "quick": self.options.quick,
            "sizes": asdict(self.sizes),
            "concurrency": self.options.concurrency,
            "erp_latency_ms": self.options.latency_ms,
            "bootstrap_given": self.options.bootstrap is not None,
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "cpus": os.cpu_count(),
            "pure_stage": scenarios.PURE_STAGE.stage,
            "erp_stage": scenarios.ERP_SINK.stage,
        }

    def progress(self, figure: str) -> Callable[[str], None]:
        """Return a progress callback that shows `figure`'s messages on the status line."""
        prefix = f"round {self.round_no}/{self.rounds} · {figure}"

        def show(message: str) -> None:
            self.status.update(f"{prefix}: {message}")

        return show

    async def measure(self, sample_id: str, work: Awaitable[Values]) -> Values:
        """Await one measurement, record it, and print a line when it is done."""
        values = await work
        self.results.add(sample_id, values)
        shown = ", ".join(f"{k} {v:,.1f}" for k, v in values.items() if k.endswith(("_s", "_ms")))
        self.console.print(f"[green]✓[/green] round {self.round_no} {sample_id}: {shown}")
        if values.get("outputs", values.get("events")) != values.get("events"):
            self.console.print(
                f"[yellow]![/yellow] {sample_id}: {values['outputs']:,.0f} outputs for "
                f"{values['events']:,.0f} events"
            )
        return values

    async def run(self) -> Results:
        """Set up the ERP, run every round (and the profile), return the results."""
        self.status.update("starting the sandbox ERP")
        self.erp = ErpSandbox(await asyncio.to_thread(self.stack.erp_url), self.stack.erp_log())
        await self.erp.set_latency(self.options.latency_ms)
        for number in range(1, self.rounds + 1):
            self.round_no = number
            await self.round(baseline_first=number % 2 == 1)
        if self.options.idle_window_s > 0 and self.wanted("I"):
            self.round_no = 0
            await self.measure("I", idle.idle_calls(
                self.stack, scale=self._idle_scale(), window_s=self._idle_window(),
                progress=self.progress("idle API calls"),
            ))  # fmt: skip
            await self.measure("C", idle.idle_calls(
                self.stack, scale=self._idle_scale(), window_s=self._idle_window(),
                progress=self.progress("CRM push (CDC)"), push=True, changes=CDC_CHANGES,
            ))  # fmt: skip
        if self.options.profile is not None:
            await self.profile(self.options.profile)
        return self.results

    def wanted(self, figure: str) -> bool:
        """Whether `figure` was asked for."""
        return figure_wanted(figure, self.options.figures)

    def _idle_scale(self) -> float:
        return max(self.options.idle_scale, 40.0) if self.options.quick else self.options.idle_scale

    def _idle_window(self) -> float:
        return (
            min(self.options.idle_window_s, 60.0)
            if self.options.quick
            else self.options.idle_window_s
        )

    def _pairs(self) -> list[tuple[Step, Step]]:
        """Return each baseline with its figure, as steps to run in this round."""
        stack, work, erp, number = self.stack, self.work, self.erp, self.round_no
        assert erp is not None  # noqa: S101 - set up by run()
        c, show = self.options.concurrency, self.progress

        def half_p1() -> float:  # read when P3 runs: after this round's P1
            return self.results.samples["P1"][-1]["events_per_s"] / 2

        return [
            (("C0", lambda: scenarios.raw_pipe(stack, work, show("C0"))),
             ("P1", lambda: scenarios.stage_throughput(stack, work, show("P1")))),
            (("H0", lambda: scenarios.raw_erp(erp, work, f"h{number}", concurrency=c,
                                              progress=show("H0"))),
             ("P2", lambda: scenarios.erp_stage(stack, erp, work, f"p{number}", show("P2"),
                                                concurrency=c))),
            (("P3.base", lambda: scenarios.raw_latency(stack, work, number, half_p1(),
                                                       show("P3 base"))),
             ("P3", lambda: scenarios.stage_latency(stack, work, number, half_p1(), show("P3")))),
            (("P4.base", lambda: scenarios.raw_recovery(stack, work, show("P4 base"))),
             ("P4", lambda: scenarios.stage_recovery(stack, work, show("P4")))),
        ]  # fmt: skip

    async def round(self, *, baseline_first: bool) -> None:
        """Measure every figure once, each right before or after its baseline."""
        pairs = [pair for pair in self._pairs() if self.wanted(pair[1][0])]
        steps = [step for pair in pairs for step in (pair if baseline_first else pair[::-1])]
        overlapped = None
        if self.options.quick and self.wanted("P4"):  # the crash → resume wait: overlap it
            [(sample_id, measure)] = [step for step in steps if step[0] == "P4"]
            steps.remove((sample_id, measure))
            overlapped = asyncio.create_task(self.measure(sample_id, measure()))
        for sample_id, measure in steps:
            await self.measure(sample_id, measure())
        if overlapped is not None:
            await overlapped

    async def profile(self, output: Path) -> None:
        """Run P1 once more under py-spy (not counted in the figures); print the top frames."""
        py_spy_path()

        @asynccontextmanager
        async def watch(runner: Runner) -> Any:
            pid = runner.pid if isinstance(runner, WorkerRunner) else None
            if pid is None:
                raise RuntimeError("no worker process to profile")
            async with py_spy(pid, output):
                yield

        self.round_no = 0
        await scenarios.stage_throughput(
            self.stack, self.work, self.progress("P1 under py-spy"), watch=watch
        )
        self.console.print(f"py-spy profile of the P1 worker: {output} (collapsed stacks)")
        self.console.print("top frames by own time:")
        for frame, share in own_time(output):
            self.console.print(f"  {share:6.1%}  {frame}", markup=False, highlight=False)


def _run_dir() -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return KafkaRuntimeSettings().cache_dir / "bench" / f"{stamp}-{uuid.uuid4().hex[:4]}"


def run_bench(options: BenchOptions, *, console: Console | None = None) -> int:
    """Run the bench; print the table (or JSON on stdout); return the process exit code."""
    console = console or Console(stderr=True)
    # Retried produce errors on topics created a moment ago are noise here, not news.
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    if options.profile is not None:
        try:
            py_spy_path()
        except ProfilerMissingError as error:
            console.print(f"[red]✗[/red] {error}")
            return 2
    run_dir = _run_dir()
    failed = True
    with console.status("starting") as status:
        stack = BenchStack(run_dir, bootstrap=options.bootstrap, progress=status.update)
        try:
            stack.start()
            bench = _Bench(options, stack, status)
            results = asyncio.run(bench.run())
            failed = False
        except (BenchStalledError, RuntimeError, KafkaRuntimeError, SandboxError, KafkaError,
                OSError) as error:  # fmt: skip
            console.print(f"[red]✗ bench failed:[/red] {error}", markup=True, highlight=False)
            return 1
        except ConfigError as error:
            console.print(f"[red]✗ config error:[/red] {error}", highlight=False)
            return 2
        except KeyboardInterrupt:
            console.print("[yellow]interrupted[/yellow]; stopping everything")
            return 130
        finally:
            status.update("stopping workers, pipes, the sandbox ERP and Kafka")
            stack.stop()
            if failed:
                console.print(f"[dim]logs kept in {run_dir}[/dim]")
            else:
                shutil.rmtree(run_dir, ignore_errors=True)
    if options.as_json:  # the table still reaches people, on stderr
        Console(stderr=True, width=None if sys.stderr.isatty() else 140).print(results.table())
        print(orjson.dumps(results.as_json(), option=orjson.OPT_INDENT_2).decode())  # noqa: T201
    else:
        # Piped to a file, rich would fold the table to 80 columns.
        Console(width=None if sys.stdout.isatty() else 140).print(results.table())
    return 0
