"""The baseline: a raw aiokafka consume → produce pipe, run as its own process like a worker.

`python -m bizbus.deploy.bench.pipe --bootstrap B --group G --source S --sink T [--count N]`
reads S as consumer group G with `getmany`, sends each record to T (acks=all, idempotent, a
small linger, sends not awaited one by one), flushes, then commits: the least a pure stage must
do to keep at-least-once. It prints `bench pipe ready` once assigned, and after N records one
JSON line: records, first fetch and last commit (wall clock). Without N it runs until killed.
"""

import argparse
import asyncio
import contextlib
import sys
import time

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

__all__ = ["LINGER_MS", "READY_LINE", "main", "run_pipe"]

READY_LINE = "bench pipe ready"
LINGER_MS = 5
FETCH_MAX_RECORDS = 2000


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


async def run_pipe(bootstrap: str, group: str, source: str, sink: str, count: int) -> None:
    """Pipe `source` to `sink` until `count` records went through (0: forever)."""
    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=LINGER_MS,
        max_batch_size=256 * 1024,
    )
    await producer.start()
    await consumer.start()
    try:
        done, first_fetch, ready = 0, None, False
        while not count or done < count:
            batches = await consumer.getmany(timeout_ms=100, max_records=FETCH_MAX_RECORDS)
            if not ready and consumer.assignment():
                ready = True
                _say(READY_LINE)
            if not batches:
                continue
            first_fetch = first_fetch or time.time()
            for records in batches.values():
                for record in records:
                    await producer.send(
                        sink, record.value, key=record.key, headers=list(record.headers)
                    )
                    done += 1
            await producer.flush()
            await consumer.commit()
        last_commit = time.time()
        _say(orjson.dumps(
            {"records": done, "first_fetch": first_fetch, "last_commit": last_commit}
        ).decode())  # fmt: skip
    finally:
        await consumer.stop()
        await producer.stop()


def main() -> None:
    """Parse the arguments and run the pipe."""
    parser = argparse.ArgumentParser(prog="python -m bizbus.deploy.bench.pipe")
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--source", required=True)
    parser.add_argument("--sink", required=True)
    parser.add_argument("--count", type=int, default=0, help="records to pipe (0: until killed)")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C on the bench reaches us too
        asyncio.run(run_pipe(args.bootstrap, args.group, args.source, args.sink, args.count))


if __name__ == "__main__":
    main()
