"""Kafka → Kafka measurements, run alike on a worker stage and on the raw pipe.

Throughput over a preloaded backlog (rate from the output records' CreateTime), per-hop latency
at a fixed rate, and a SIGKILL halfway through a backlog followed by a fresh process with the
same group (seconds until output flows again).
"""

import asyncio
import contextlib
import math
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from bizbus.deploy.bench import kafka_io
from bizbus.deploy.bench.cpu import cpu_seconds
from bizbus.deploy.bench.records import Record
from bizbus.deploy.bench.runners import RESUME_TIMEOUT_S, PipeRunner, Runner, WorkerRunner
from bizbus.flows.runtime.kafka_config import KafkaTarget, producer

__all__ = [
    "Latency",
    "Recovery",
    "Watch",
    "measure_latency",
    "measure_recovery",
    "measure_throughput",
    "percentile",
    "produce_at_rate",
]

Progress = Callable[[str], None]
Watch = Callable[[Runner], AbstractAsyncContextManager[object]]
STALL_S = 90.0  # no new output for this long: the runner is stuck, not slow


async def measure_throughput(
    runner: Runner,
    records: Sequence[Record],
    progress: Progress,
    *,
    watch: Watch | None = None,
) -> dict[str, float]:
    """Preload `records`, start the runner, wait for all outputs; return the rates.

    `events_per_s` is records over the span of the output records' CreateTime (first to
    last); a pipe also reports its own first-fetch → last-commit rate (`pipe_events_per_s`), a
    worker the CPU its process spent per record once it was ready (`cpu_us_per_event`).
    `watch(runner)` is entered while the runner works (e.g. a profiler on its process).
    """
    try:
        await runner.prepare()
        progress(f"preloading {len(records):,} records")
        await kafka_io.preload(runner.stack.connection, runner.source, records, progress=progress)
        progress("starting")
        await runner.start()
        pid = runner.pid if isinstance(runner, WorkerRunner) else None
        cpu_before = cpu_seconds(pid) if pid is not None else None
        done_before = await kafka_io.count_records(runner.stack.connection, runner.sink)
        async with watch(runner) if watch else contextlib.nullcontext():
            await kafka_io.wait_for_count(
                runner.stack.connection, runner.sink, len(records), stall_s=STALL_S,
                progress=progress, diagnose=runner.diagnose, what="outputs",
            )  # fmt: skip
        cpu_after = cpu_seconds(pid) if pid is not None else None
        count, first_ms, last_ms = await kafka_io.time_span(runner.stack.connection, runner.sink)
        result = {"events_per_s": _rate(len(records), first_ms, last_ms), "outputs": count}
        handled = count - done_before
        if cpu_before is not None and cpu_after is not None and handled > 0:
            result["cpu_us_per_event"] = (cpu_after - cpu_before) / handled * 1e6
        if isinstance(runner, PipeRunner) and runner.process is not None:
            report = await runner.process.result(timeout_s=STALL_S)
            seconds = report["last_commit"] - report["first_fetch"]
            result["pipe_events_per_s"] = report["records"] / seconds if seconds > 0 else 0.0
        return result
    finally:
        await runner.cleanup()


def _rate(count: int, first_ms: int, last_ms: int) -> float:
    return count / ((last_ms - first_ms) / 1000) if last_ms > first_ms else 0.0


async def produce_at_rate(
    kafka: KafkaTarget, topic: str, records: Sequence[Record], rate: float
) -> None:
    """Send `records` at `rate` per second, one by one, without waiting for each ack.

    Each record's CreateTime is stamped when it is handed to the producer (linger 0), so the
    latency measured from it includes the producer's own path, as an upstream stage's would.
    """
    writer = producer(kafka, acks="all", enable_idempotence=True, linger_ms=0)
    await writer.start()
    try:
        pending = []
        began = time.monotonic()
        for sent, (key, value, headers) in enumerate(records):
            delay = began + sent / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            pending.append(await writer.send(topic, value, key=key, headers=headers))
        await writer.flush()
        await asyncio.gather(*pending)
    finally:
        await writer.stop()


@dataclass(frozen=True)
class Latency:
    """Per-hop latency of one runner at a fixed rate, in milliseconds."""

    rate_per_s: float
    count: int
    p50_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float


def percentile(values: Sequence[float], share: float) -> float:
    """Return the nearest-rank percentile (`share` in 0..1) of `values`."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    rank = max(1, min(len(ordered), math.ceil(round(share * len(ordered), 9))))
    return float(ordered[rank - 1])


async def measure_latency(
    runner: Runner,
    records: Sequence[Record],
    rate: float,
    progress: Progress,
    *,
    warmup: Sequence[Record] = (),
) -> Latency:
    """Stream `warmup`, wait until it is through, then stream `records` (one key each).

    Latency = output CreateTime - input CreateTime of the record with the same key (same
    host clock, millisecond resolution), for `records` only: the warm-up pays the runner's
    first-use costs (metadata of its output topic, first batches), and the measured stream
    starts on an empty queue, so what builds up during it is the runner's own doing.
    """
    try:
        await runner.prepare()
        progress("starting")
        await runner.start()
        kafka = runner.stack.connection
        for what, batch, before in (("warm-up", warmup, 0), ("measured", records, len(warmup))):
            progress(f"streaming {len(batch):,} {what} records at {rate:,.0f}/s")
            await produce_at_rate(kafka, runner.source, batch, rate)
            await kafka_io.wait_for_count(
                kafka, runner.sink, before + len(batch), stall_s=STALL_S,
                progress=progress, diagnose=runner.diagnose, what=f"{what} outputs",
            )  # fmt: skip
        measured = {key for key, _, _ in records}
        sent = dict(await kafka_io.read_keys(kafka, runner.source))
        latencies = [
            float(stamp - sent[key])
            for key, stamp in await kafka_io.read_keys(kafka, runner.sink)
            if key in measured
        ]
        return Latency(
            rate_per_s=rate,
            count=len(latencies),
            p50_ms=percentile(latencies, 0.50),
            p99_ms=percentile(latencies, 0.99),
            p999_ms=percentile(latencies, 0.999),
            max_ms=max(latencies, default=0.0),
        )
    finally:
        await runner.cleanup()


@dataclass(frozen=True)
class Recovery:
    """A backlog's catch-up rate, and the seconds from a SIGKILL to the next output."""

    catch_up_events_per_s: float
    catch_up_events: int
    crash_resume_s: float


async def measure_recovery(
    runner: Runner, backlog: Sequence[Record], progress: Progress, *, tail: Sequence[Record]
) -> Recovery:
    """Catch up on `backlog`, SIGKILL the process halfway, start a new one with the same group.

    Catch-up rate: the outputs written before the kill over their CreateTime span (half the
    backlog; all of it when a runner outpaces the bench's watch). Resume: from the moment the
    killed process is gone to the first output written after it (by the new process), whatever
    the group needed in between. `tail` is written right after the kill, so the new process
    has input even when the backlog was done.
    """
    kafka = runner.stack.connection
    try:
        await runner.prepare()
        progress(f"preloading a backlog of {len(backlog):,}")
        await kafka_io.preload(kafka, runner.source, backlog, progress=progress)
        progress("starting")
        await runner.start()
        await kafka_io.wait_for_count(
            kafka, runner.sink, len(backlog) // 2, stall_s=STALL_S, progress=progress,
            diagnose=runner.diagnose, what="backlog outputs before the crash",
        )  # fmt: skip
        runner.kill()
        killed_ms = int(time.time() * 1000)
        progress("killed (SIGKILL) halfway; starting a new process with the same group")
        resumed_ms = await _restart(runner, killed_ms, tail, progress)
        count, first_ms, last_ms = await kafka_io.time_span(kafka, runner.sink, killed_ms)
        return Recovery(_rate(count, first_ms, last_ms), count, (resumed_ms - killed_ms) / 1000)
    finally:
        await runner.cleanup()


async def _restart(
    runner: Runner, killed_ms: int, tail: Sequence[Record], progress: Progress
) -> int:
    """Start the runner again, add `tail`; return the CreateTime of its first output."""
    restart = asyncio.create_task(runner.start())
    try:
        await kafka_io.preload(runner.stack.connection, runner.source, tail)
        resumed_ms = await _first_output_after(runner, killed_ms, progress)
        await restart
        return resumed_ms
    finally:
        if not restart.done():
            await asyncio.to_thread(runner.stop)  # a start still waiting ends with its process
        await asyncio.gather(restart, return_exceptions=True)


async def _first_output_after(runner: Runner, since_ms: int, progress: Progress) -> int:
    deadline = time.monotonic() + RESUME_TIMEOUT_S
    while time.monotonic() < deadline:
        found = await kafka_io.first_after(runner.stack.connection, runner.sink, since_ms)
        if found is not None:
            return found
        waited = time.time() - since_ms / 1000
        progress(f"waiting for the first output after the crash ({waited:.0f} s)")
        await asyncio.sleep(0.25)
    raise kafka_io.BenchStalledError(
        f"no output within {RESUME_TIMEOUT_S:.0f} s of the crash\n{runner.diagnose()}"
    )
