"""Odoo sink vs raw httpx against a sandbox ERP with added latency, measured in one run.

Run: ``.venv/bin/python -m tests.bench.bench_odoo_sink [--applies N] [--concurrency C] ...``.
Starts its own sandbox ERP (loopback), sets ``latency_ms``, then measures (a) raw JSON-RPC
``execute_kw`` calls (``search_read`` by ref, and ``write``) on one AsyncClient at concurrency
C, and (b) ``OdooConnector.apply`` of partner upserts over K keys, one lane per key (per-key
order kept, keys concurrent, at most C applies at once). Prints calls/s, the ratio, and
p50/p99 latencies.
"""

import argparse
import asyncio
import itertools
import shutil
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from bizbus.connectors.base import Outcome, SinkCommand
from bizbus.connectors.odoo import OdooConnector, OdooSettings
from bizbus.connectors.settings import load_settings
from bizbus.deploy.sandbox.registry import SYSTEMS
from bizbus.deploy.sandbox.runner import start_sandbox, stop_sandbox

CREDS = SYSTEMS["erp"].credentials
FIELDS = ["id", "name", "comment"]


class Timed(httpx.AsyncBaseTransport):
    """Real sockets; counts each HTTP exchange and notes its latency in seconds."""

    def __init__(self, limits: httpx.Limits) -> None:
        self.inner = httpx.AsyncHTTPTransport(limits=limits)
        self.latencies: list[float] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        started = time.perf_counter()
        response = await self.inner.handle_async_request(request)
        await response.aread()
        self.latencies.append(time.perf_counter() - started)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass
class Run:
    """One measured phase."""

    name: str
    seconds: float
    calls: int
    latencies: list[float]
    items: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)

    @property
    def calls_per_s(self) -> float:
        return self.calls / self.seconds

    def percentile(self, share: float, values: list[float] | None = None) -> float:
        data = sorted(values if values is not None else self.latencies)
        return data[min(len(data) - 1, int(share * len(data)))] * 1000


async def bounded(jobs: list[Callable[[], Awaitable[Any]]], concurrency: int) -> None:
    """Run ``jobs`` with at most ``concurrency`` in flight (workers pulling from one list)."""
    feed = iter(jobs)

    async def worker() -> None:
        for job in feed:
            await job()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def raw_phase(
    url: str, uid: int, ids: dict[str, int], *, method: str, calls: int, concurrency: int
) -> Run:
    """N JSON-RPC ``execute_kw`` calls of one kind on one AsyncClient, at most C in flight."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    transport = Timed(limits)
    refs = list(ids)
    counter = itertools.count(1)
    secret = CREDS["integration_api_key"]
    async with httpx.AsyncClient(base_url=url, transport=transport, timeout=10) as client:

        def job(i: int) -> Callable[[], Awaitable[None]]:
            ref = refs[i % len(refs)]
            if method == "search_read":
                call: list[Any] = ["res.partner", "search_read", [[("ref", "=", ref)]],
                                   {"fields": FIELDS, "limit": 2,
                                    "context": {"active_test": False}}]  # fmt: skip
            else:
                call = ["res.partner", "write", [[ids[ref]], {"comment": f"raw {i}"}], {}]

            async def run() -> None:
                body = {"jsonrpc": "2.0", "method": "call", "id": next(counter),
                        "params": {"service": "object", "method": "execute_kw",
                                   "args": ["bizbus", uid, secret, *call]}}  # fmt: skip
                response = await client.post(
                    "/jsonrpc",
                    content=orjson.dumps(body),
                    headers={"Content-Type": "application/json"},
                )
                answer = orjson.loads(response.content)
                if response.status_code != 200 or "error" in answer:
                    raise RuntimeError(f"raw call failed: {response.status_code}")

            return run

        # Warm-up (not timed): open the pool's connections, as the sink's already are.
        await bounded([job(i) for i in range(concurrency)], concurrency)
        transport.latencies.clear()
        jobs = [job(i) for i in range(calls)]
        started = time.perf_counter()
        await bounded(jobs, concurrency)
        seconds = time.perf_counter() - started
    return Run(f"raw httpx {method}", seconds, len(transport.latencies), transport.latencies)


def command(key: str, version: int) -> SinkCommand:
    """The partner upsert of ``key`` at ``version`` (two applies per version: write, then none)."""
    return SinkCommand("res.partner", key, {"name": f"基准客户 {key}", "comment": f"v{version}"})


async def sink_phase(
    erp: OdooConnector, transport: Timed, keys: list[str], *, applies: int, concurrency: int
) -> tuple[Run, dict[str, list[int]]]:
    """N applies over K keys: per-key order in one lane per key, keys concurrent."""
    transport.latencies.clear()
    applied: dict[str, list[int]] = defaultdict(list)
    outcomes: Counter[str] = Counter()
    apply_latencies: list[float] = []

    async def apply(key: str, step: int) -> None:
        started = time.perf_counter()
        result = await erp.apply(command(key, 1 + step // 2))
        apply_latencies.append(time.perf_counter() - started)
        applied[key].append(step)
        outcomes[result.outcome.value] += 1

    slots = asyncio.Semaphore(concurrency)

    async def lane(key: str, steps: list[int]) -> None:
        for step in steps:  # one key's applies in order, as a flow's per-key lane runs them
            async with slots:
                await apply(key, step)

    steps: dict[str, list[int]] = defaultdict(list)
    for n in range(applies):
        steps[keys[n % len(keys)]].append(n // len(keys))
    started = time.perf_counter()
    await asyncio.gather(*(lane(key, key_steps) for key, key_steps in steps.items()))
    seconds = time.perf_counter() - started
    run = Run("odoo sink apply()", seconds, len(transport.latencies), list(transport.latencies))
    run.items, run.outcomes = applies, outcomes
    run.apply_latencies = apply_latencies  # type: ignore[attr-defined]
    return run, applied


async def calls_per_apply(erp: OdooConnector, transport: Timed) -> dict[str, int]:
    """HTTP calls one apply costs, measured: create, unchanged, update."""
    costs: dict[str, int] = {}
    for label, version in (("created", 0), ("unchanged", 0), ("updated", 1)):
        before = len(transport.latencies)
        result = await erp.apply(command("BENCH-COST", version))
        if result.outcome is not Outcome(label):
            raise RuntimeError(f"expected {label}, the sink said {result.outcome.value}")
        costs[label] = len(transport.latencies) - before
    return costs


async def bench(url: str, args: argparse.Namespace) -> None:
    c = args.concurrency
    async with httpx.AsyncClient(base_url=url, timeout=5) as control:
        await control.post("/_sandbox/faults", json={"latency_ms": args.latency_ms})
    limits = httpx.Limits(max_connections=c, max_keepalive_connections=c)
    transport = Timed(limits)
    settings = load_settings(OdooSettings, base_url=url, db=CREDS["db"],
                             login=CREDS["integration_login"],
                             api_key=CREDS["integration_api_key"],
                             max_connections=c, max_keepalive=c)  # fmt: skip
    keys = [f"BENCH-{i:04d}" for i in range(args.keys)]
    async with OdooConnector(settings, transport=transport) as erp:
        uid = await erp.uid()
        costs = await calls_per_apply(erp, transport)
        await bounded([lambda k=k: erp.apply(command(k, 0)) for k in keys], c)  # type: ignore[misc]
        ids = {row["ref"]: row["id"] for row in await erp.search_read(
            "res.partner", [("ref", "like", "BENCH-")], fields=["ref"])}  # fmt: skip
        raw_read = await raw_phase(url, uid, ids, method="search_read", calls=args.raw_calls,
                                   concurrency=c)  # fmt: skip
        raw_write = await raw_phase(url, uid, ids, method="write", calls=args.raw_calls // 2,
                                    concurrency=c)  # fmt: skip
        sink, applied = await sink_phase(erp, transport, keys, applies=args.applies, concurrency=c)
        final = {row["ref"]: row["comment"] for row in await erp.search_read(
            "res.partner", [("ref", "in", keys)], fields=["ref", "comment"])}  # fmt: skip
    ordered = all(steps == sorted(steps) for steps in applied.values())
    last = {key: f"v{1 + (len(steps) - 1) // 2}" for key, steps in applied.items()}
    consistent = all(final.get(key) == value for key, value in last.items())
    # Raw rate for the sink's own mix of calls: searches at the raw search rate, writes at the
    # raw write rate (time-weighted), so the ratio compares like with like.
    writes = sink.outcomes["updated"]
    reads = sink.calls - writes
    mix = sink.calls / (reads / raw_read.calls_per_s + writes / raw_write.calls_per_s)
    report(args, raw_read, raw_write, mix, sink, costs, ordered=ordered, consistent=consistent)


def report(
    args: argparse.Namespace,
    raw_read: Run,
    raw_write: Run,
    mix: float,
    sink: Run,
    costs: dict[str, int],
    *,
    ordered: bool,
    consistent: bool,
) -> None:
    apply_lat: list[float] = sink.apply_latencies  # type: ignore[attr-defined]
    lines = [
        f"sandbox ERP +{args.latency_ms:g} ms latency, concurrency {args.concurrency}, "
        f"{args.keys} keys, one AsyncClient each",
        "",
        f"{'phase':34} {'calls':>6} {'s':>6} {'calls/s':>8} {'p50 ms':>7} {'p99 ms':>7}",
    ]
    for run in (raw_read, raw_write, sink):
        lines.append(f"{run.name:34} {run.calls:>6} {run.seconds:>6.2f} {run.calls_per_s:>8.0f} "
                     f"{run.percentile(0.5):>7.1f} {run.percentile(0.99):>7.1f}")  # fmt: skip
    lines.append(f"{'raw httpx, the sink call mix':34} {'':>6} {'':>6} {mix:>8.0f}")
    lines += [
        f"{'odoo sink applies':34} {sink.items:>6} {sink.seconds:>6.2f} "
        f"{sink.items / sink.seconds:>8.0f} {sink.percentile(0.5, apply_lat):>7.1f} "
        f"{sink.percentile(0.99, apply_lat):>7.1f}",
        "",
        "sink HTTP calls/s / raw search_read calls/s: "
        f"{sink.calls_per_s / raw_read.calls_per_s:.0%}",
        f"sink HTTP calls/s / raw calls/s of the same mix: {sink.calls_per_s / mix:.0%} "
        "(DESIGN target >= 70 %)",
        f"apply outcomes: {dict(sink.outcomes)}; HTTP calls per apply "
        f"{sink.calls / sink.items:.2f} on average",
        f"HTTP calls one apply costs: created {costs['created']} (search_read + create), "
        f"updated {costs['updated']} (search_read + write), "
        f"unchanged {costs['unchanged']} (search_read only)",
        f"per-key order kept: {'yes' if ordered else 'NO'}; final records match the last "
        f"command of each key: {'yes' if consistent else 'NO'}",
    ]
    print("\n".join(lines))  # noqa: T201 - a benchmark prints its table


def main() -> None:
    """Start a sandbox ERP, run the benchmark, always stop the sandbox."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--applies", type=int, default=3000, help="sink applies (N)")
    parser.add_argument("--raw-calls", type=int, default=3000, help="raw search_read calls")
    parser.add_argument("--concurrency", type=int, default=32, help="calls in flight (C)")
    parser.add_argument("--keys", type=int, default=64, help="distinct keys (K)")
    parser.add_argument("--latency-ms", type=float, default=10.0, help="added server latency")
    args = parser.parse_args()
    run_dir = Path(tempfile.mkdtemp(prefix="bizbus-bench-odoo-"))
    stack = start_sandbox(["erp"], run_dir=run_dir)
    try:
        asyncio.run(bench(stack.urls["erp"], args))
    finally:
        stop_sandbox(stack)
        shutil.rmtree(run_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
