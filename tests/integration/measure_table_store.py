"""Measure a worker's start → ready with a big table: memory vs rocksdb, clean stop vs SIGKILL.

Not a test (figures, no assertions): `python -m tests.integration.measure_table_store [N] [ROUNDS]`.
Two stacks (CRM + ERP sandboxes, a `customers,orders` worker with static membership) on a broker
of its own, one per store. Each stack's xref table (global: every worker holds all of it) gets
N entries written straight into its changelog topic, as the table's own writes would be (JSON
key and value, spread over its partitions); each worker then starts once (the rocksdb one fills
its store). Rounds restart the workers interleaved (stop and kill, memory and rocksdb) and time each
start until the worker logs it is ready; medians are printed at the end.
"""

import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson

from bizbus.deploy.kafka import KafkaRuntimeSettings, start_cluster, stop_cluster
from bizbus.flows.runtime.kafka_config import producer
from bizbus.flows.xref import XREF_TABLE
from tests.integration.flowstack import FlowStack

STORES = ("memory", "rocksdb")
MODES = ("stop", "kill")


async def fill(stack: FlowStack, entries: int) -> None:
    """Write `entries` xref entries into the stack's xref changelog, batched."""
    writer = producer(stack.kafka_bootstrap, acks="all", linger_ms=20, max_batch_size=256 * 1024)
    await writer.start()
    try:
        for i in range(entries):
            key = orjson.dumps(f"bench:{i:07d}")
            value = orjson.dumps({"erp_id": 100000 + i, "crm_id": f"001BENCH{i:09d}"})
            topic = f"{stack.app_id}-{XREF_TABLE.name}-changelog"
            await writer.send(topic, value, key=key, partition=i % XREF_TABLE.partitions)
        await writer.flush()
    finally:
        await writer.stop()


def timed_start(stack: FlowStack) -> float:
    started = time.monotonic()
    stack.start_worker(timeout_s=900)
    return time.monotonic() - started


def main(entries: int, rounds: int) -> None:
    run = Path(tempfile.mkdtemp(prefix="bizbus-measure-store-"))
    cluster = start_cluster(KafkaRuntimeSettings(), run_dir=run / "kafka")
    stacks: dict[str, FlowStack] = {}
    try:
        for store in STORES:
            env = {"BIZBUS_TABLE_STORE": store, "BIZBUS_INSTANCE_ID": f"{store}-0"}
            stack = stacks[store] = FlowStack(
                cluster.bootstrap, run / store, flows="customers,orders",
                systems=("crm", "erp"), worker_env=env,
            ).start()  # fmt: skip
            asyncio.run(fill(stack, entries))
            stack.stop_worker()
            print(f"{store}: first start with {entries} xref entries: {timed_start(stack):.1f} s")  # noqa: T201
        times: dict[str, list[float]] = {f"{s}-{m}": [] for s in STORES for m in MODES}
        for number in range(1, rounds + 1):
            for mode in MODES:
                for store in STORES:
                    stack = stacks[store]
                    assert stack.worker is not None
                    stack.stop_worker() if mode == "stop" else stack.worker.kill()
                    took = timed_start(stack)
                    times[f"{store}-{mode}"].append(took)
                    print(f"round {number} {mode:4} {store:7} start → ready {took:.1f} s")  # noqa: T201
        for name, runs in times.items():
            print(f"{name:13} median {statistics.median(runs):.1f} s  runs {runs}")  # noqa: T201
        print(json.dumps(times))  # noqa: T201
    finally:
        for stack in stacks.values():
            stack.stop()
        stop_cluster(cluster)
        shutil.rmtree(run, ignore_errors=True)


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else 150_000,
        int(sys.argv[2]) if len(sys.argv) > 2 else 3,
    )
