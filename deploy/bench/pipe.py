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

from bizbus.flows.runtime.kafka_config import KafkaTarget, consumer, kafka_connection, producer

__all__ = ["LINGER_MS", "READY_LINE", "main", "run_pipe"]

READY_LINE = "bench pipe ready"
LINGER_MS = 5
FETCH_MAX_RECORDS = 2000


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


async def run_pipe(kafka: KafkaTarget, group: str, source: str, sink: str, count: int) -> None:
    """Pipe `source` to `sink` until `count` records went through (0: forever)."""
    reader = consumer(
        kafka,
        source,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    writer = producer(
        kafka,
        acks="all",
        enable_idempotence=True,
        linger_ms=LINGER_MS,
        max_batch_size=256 * 1024,
    )
    await writer.start()
    await reader.start()
    try:
        done, first_fetch, ready = 0, None, False
        while not count or done < count:
            batches = await reader.getmany(timeout_ms=100, max_records=FETCH_MAX_RECORDS)
            if not ready and reader.assignment():
                ready = True
                _say(READY_LINE)
            if not batches:
                continue
            first_fetch = first_fetch or time.time()
            for records in batches.values():
                for record in records:
                    await writer.send(
                        sink, record.value, key=record.key, headers=list(record.headers)
                    )
                    done += 1
            await writer.flush()
            await reader.commit()
        last_commit = time.time()
        _say(orjson.dumps(
            {"records": done, "first_fetch": first_fetch, "last_commit": last_commit}
        ).decode())  # fmt: skip
    finally:
        await reader.stop()
        await writer.stop()


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
        # The bench's own broker or the one given, with the security of the environment.
        kafka = kafka_connection(args.bootstrap)
        asyncio.run(run_pipe(kafka, args.group, args.source, args.sink, args.count))


if __name__ == "__main__":
    main()
