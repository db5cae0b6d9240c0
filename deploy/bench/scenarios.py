"""The figures of `bizbus bench`, one function each, every one beside its baseline.

C0 raw consume → produce pipe; P1 the pure stage in a worker (ratio to C0); H0 raw httpx
against the sandbox ERP; P2 the ERP sink stage in a worker (ratio to H0, per-key order checked
in the ERP); P3 per-hop latency at half of P1's rate (baseline: the raw pipe at that rate); P4 a
backlog's catch-up and SIGKILL → resumed seconds (baseline: the raw pipe doing the same).
Each function measures one thing once; `run` decides the rounds and the order.
"""

from collections.abc import Callable
from dataclasses import asdict, dataclass

from bizbus.deploy.bench import kafka_io
from bizbus.deploy.bench.erp import ErpSandbox
from bizbus.deploy.bench.measure import (
    Watch,
    measure_latency,
    measure_recovery,
    measure_throughput,
)
from bizbus.deploy.bench.records import Record, order_id, placed_orders, sales_order_commands
from bizbus.deploy.bench.runners import PipeRunner, Runner, StageSpec, WorkerRunner
from bizbus.deploy.bench.stack import BenchStack

__all__ = [
    "ERP_SINK",
    "PURE_STAGE",
    "Sizes",
    "Workload",
    "erp_stage",
    "raw_erp",
    "raw_latency",
    "raw_pipe",
    "raw_recovery",
    "stage_latency",
    "stage_recovery",
    "stage_throughput",
]

Progress = Callable[[str], None]
Values = dict[str, float]

# The stages measured; their names and topics are kept through the runtime's rewrite.
PURE_STAGE = StageSpec("orders", "sales-order-requests", "biz.sales.order", "cmd.erp.sales-order")
# The ERP sink publishes one CRM write-back per command applied: its count says when it is done.
ERP_SINK = StageSpec("orders", "erp-sales-orders", "cmd.erp.sales-order", "cmd.crm.order")
REVISIONS = 2  # commands per ERP order: the create, then a revision of the confirmed order


@dataclass(frozen=True)
class Sizes:
    """How much work each figure gets."""

    pipe_events: int  # C0 and P1: preloaded placed orders
    order_keys: int  # P1: distinct order ids those events are spread over
    erp_orders: int  # H0 and P2: orders, REVISIONS commands each
    latency_events: int  # P3: records produced at a fixed rate
    backlog: int  # P4: preloaded backlog, the process is killed halfway through it


FULL = Sizes(12_000, 5_000, 100, 3_000, 100_000)
QUICK = Sizes(2_000, 500, 10, 300, 2_000)
TAIL = 1_000  # P4: records written right after the kill


@dataclass
class Workload:
    """Records built once per run (encoding is not what is measured), reused every round."""

    sizes: Sizes
    tag: str
    placed: list[Record]
    backlog: list[Record]

    @classmethod
    def build(cls, sizes: Sizes, tag: str) -> "Workload":
        """Encode the placed orders and the backlog (the first is a prefix of the second)."""
        total = max(sizes.pipe_events, sizes.backlog)
        records = placed_orders(total, keys=sizes.order_keys, tag=tag)
        return cls(sizes, tag, records[: sizes.pipe_events], records[: sizes.backlog])

    def erp_keys(self, label: str) -> list[str]:
        """Return fresh CRM order ids for one ERP batch (every batch creates new orders)."""
        return [order_id(f"{label}{self.tag}", n) for n in range(self.sizes.erp_orders)]


async def raw_pipe(stack: BenchStack, work: Workload, progress: Progress) -> Values:
    """C0: the raw pipe over the preloaded events; events/s from first fetch to last commit."""
    runner = PipeRunner(stack, PURE_STAGE, count=len(work.placed))
    result = await measure_throughput(runner, work.placed, progress)
    return {
        "events_per_s": result["pipe_events_per_s"],
        "output_span_events_per_s": result["events_per_s"],
        "events": float(len(work.placed)),
    }


async def stage_throughput(
    stack: BenchStack, work: Workload, progress: Progress, *, watch: Watch | None = None
) -> Values:
    """P1: the pure stage in a worker over the same events; N / output CreateTime span."""
    runner = WorkerRunner(stack, PURE_STAGE)
    result = await measure_throughput(runner, work.placed, progress, watch=watch)
    values = {
        "events_per_s": result["events_per_s"],
        "events": float(len(work.placed)),
        "outputs": float(result["outputs"]),  # more than events: duplicates (at-least-once)
    }
    if "cpu_us_per_event" in result:  # the worker's own CPU a record: steady under load
        values["cpu_us_per_event"] = result["cpu_us_per_event"]
    return values


async def raw_erp(
    erp: ErpSandbox, work: Workload, label: str, *, concurrency: int, progress: Progress
) -> Values:
    """H0: raw httpx doing the sink's calls for `erp_orders` orders, `concurrency` at a time."""
    keys = work.erp_keys(label)
    progress(f"{len(keys) * REVISIONS} sales-order commands over raw httpx, {concurrency} at once")
    window = await erp.raw_orders(keys, revisions=REVISIONS, concurrency=concurrency)
    check = await erp.check_order(keys, window.effects, revisions=REVISIONS)
    if not check.kept:
        raise RuntimeError(f"the raw baseline itself broke per-key order: {check}")
    return {"calls_per_s": window.calls_per_s, "calls": float(window.calls)}


async def erp_stage(
    stack: BenchStack,
    erp: ErpSandbox,
    work: Workload,
    label: str,
    progress: Progress,
    *,
    concurrency: int,
) -> Values:
    """P2: the ERP sink stage in a worker; ERP calls/s and per-key order, from the ERP.

    The stage runs `concurrency` keys at once, as H0 does, so the ratio compares like with like.
    """
    keys = work.erp_keys(label)
    records = sales_order_commands(keys, revisions=REVISIONS)
    runner = WorkerRunner(stack, ERP_SINK, {"BIZBUS_STAGE_MAX_IN_FLIGHT": str(concurrency)})
    try:
        await runner.prepare()
        await kafka_io.preload(stack.connection, runner.source, records)
        mark = await erp.mark()
        progress("starting the worker")
        await runner.start()
        await kafka_io.wait_for_count(
            stack.connection, runner.sink, len(records), stall_s=90, progress=progress,
            failures=runner.source + ".dlq", diagnose=runner.diagnose, what="commands applied",
        )  # fmt: skip
        window = await erp.window(mark)
        check = await erp.check_order(keys, window.effects, revisions=REVISIONS)
    finally:
        await runner.cleanup()
    return {
        "calls_per_s": window.calls_per_s,
        "calls": float(window.calls),
        "order_kept": 1.0 if check.kept else 0.0,
        "keys_in_order": float(check.in_order),
        "keys": float(check.keys),
    }


async def stage_latency(
    stack: BenchStack, work: Workload, round_no: int, rate: float, progress: Progress
) -> Values:
    """P3: per-hop latency of the pure stage in a worker at `rate` (after 1 s of warm-up)."""
    runner = WorkerRunner(stack, PURE_STAGE)
    return await _latency(runner, work, round_no, rate, progress)


async def raw_latency(
    stack: BenchStack, work: Workload, round_no: int, rate: float, progress: Progress
) -> Values:
    """P3's baseline: the raw pipe's latency at the same rate, after the same warm-up."""
    return await _latency(PipeRunner(stack, PURE_STAGE), work, round_no, rate, progress)


async def _latency(
    runner: Runner, work: Workload, round_no: int, rate: float, progress: Progress
) -> Values:
    count = work.sizes.latency_events
    tag = f"{runner.kind}{round_no}{work.tag}"
    records = placed_orders(count, keys=count, tag=f"l{tag}")
    warmup = placed_orders(max(1, int(rate)), keys=max(1, int(rate)), tag=f"w{tag}")
    latency = await measure_latency(runner, records, rate, progress, warmup=warmup)
    return {key: float(value) for key, value in asdict(latency).items()}


async def stage_recovery(stack: BenchStack, work: Workload, progress: Progress) -> Values:
    """P4: the pure stage's catch-up on the backlog, SIGKILL halfway, resumed seconds."""
    return await _recovery(WorkerRunner(stack, PURE_STAGE), work, progress)


async def raw_recovery(stack: BenchStack, work: Workload, progress: Progress) -> Values:
    """P4's baseline: the raw pipe on the same backlog, killed and restarted likewise."""
    return await _recovery(PipeRunner(stack, PURE_STAGE), work, progress)


async def _recovery(runner: Runner, work: Workload, progress: Progress) -> Values:
    tail = work.placed[:TAIL]
    result = await measure_recovery(runner, work.backlog, progress, tail=tail)
    return {"backlog": float(len(work.backlog)),
            **{key: float(value) for key, value in asdict(result).items()}}  # fmt: skip
