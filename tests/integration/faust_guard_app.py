"""A faust worker whose agent runs inside the EventGuard; the dead-letter test drives it.

Values listed in the file at GUARD_BLOCKLIST are rejected (a "bug"); deleting the file "fixes"
it, so a replay then succeeds. `flaky-*` values fail once with a transient error.
"""

import os
from dataclasses import replace
from pathlib import Path

import faust

from bizbus.connectors.errors import RejectedError, TransientError
from bizbus.flows.runtime.assignor import CheckedPartitionAssignor
from bizbus.flows.runtime.faust_glue import guarded_agent
from bizbus.flows.runtime.guard import GUARD_POLICY
from bizbus.flows.runtime.record import RawRecord

app = faust.App(
    os.environ["GUARD_APP_ID"],
    broker=f"kafka://{os.environ['GUARD_BOOTSTRAP']}",
    store="memory://",
    datadir=os.environ["GUARD_DATADIR"],
    topic_partitions=1,
    topic_replication_factor=1,
    web_enabled=False,
    PartitionAssignor=CheckedPartitionAssignor,
)
OUT = os.environ["GUARD_OUT"]
BLOCKLIST = Path(os.environ["GUARD_BLOCKLIST"])
seen_flaky: set[bytes] = set()


async def forward(record: RawRecord) -> None:
    value = record.value or b""
    if BLOCKLIST.exists() and value.decode() in BLOCKLIST.read_text().split():
        raise RejectedError(f"value rejected by the sink (offset {record.offset})")
    if value.startswith(b"flaky") and value not in seen_flaky:
        seen_flaky.add(value)
        raise TransientError("sink answered 503")
    await app.producer.send_and_wait(OUT, record.key, value, None, None, record.headers)


FAST = replace(GUARD_POLICY, initial=0.05, jitter=0.05)
guarded_agent(app, os.environ["GUARD_IN"], forward, name="forward", policy=FAST)

if __name__ == "__main__":
    app.main()
