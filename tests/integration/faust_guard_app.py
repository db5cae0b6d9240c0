"""A faust worker with one stage on bizbus's stage runtime; the dead-letter test drives it.

Values listed in the file at GUARD_BLOCKLIST are rejected (a "bug"); deleting the file "fixes"
it, so a replay then succeeds. `flaky-*` values fail once with a transient error of the "sink"
system, which holds the stage until its probe answers.
"""

import os
from pathlib import Path

import faust

from bizbus.connectors.errors import RejectedError, TransientError
from bizbus.flows.runtime.assignor import CheckedPartitionAssignor
from bizbus.flows.runtime.faust_glue import dead_letter_sender
from bizbus.flows.runtime.faust_stage import FaustStage
from bizbus.flows.runtime.gates import Gates, GateTiming
from bizbus.flows.runtime.guard import StageGuard
from bizbus.flows.runtime.holds import HoldStore
from bizbus.flows.runtime.record import RawRecord
from bizbus.flows.runtime.services import RuntimeServices, run_with_app

app = faust.App(
    os.environ["GUARD_APP_ID"],
    broker=f"kafka://{os.environ['GUARD_BOOTSTRAP']}",
    store="memory://",
    datadir=os.environ["GUARD_DATADIR"],
    topic_partitions=1,
    topic_replication_factor=1,
    web_enabled=False,
    PartitionAssignor=CheckedPartitionAssignor,
    stream_wait_empty=False,
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
        raise TransientError("sink answered 503", system="sink")
    await app.producer.send_and_wait(OUT, record.key, value, None, None, record.headers)


async def answers() -> None:
    """The sink's probe: it always answers (the flaky failure is a blip)."""


gates = Gates(lambda _system: answers, timing=GateTiming(first_s=0.05))
holds = HoldStore(os.environ["GUARD_BOOTSTRAP"], os.environ["GUARD_HOLDS"])
guard = StageGuard(
    "forward", systems=frozenset({"sink"}), gates=gates, holds=holds,
    dead_letter=dead_letter_sender(app),
)  # fmt: skip
stage = FaustStage(app, os.environ["GUARD_IN"], guard, forward, max_in_flight=8, high_water=64)
topic = app.topic(os.environ["GUARD_IN"], key_serializer="raw", value_serializer="raw")
app.agent(topic, name="forward")(stage.agent)
app.task(run_with_app(app, RuntimeServices(holds, None, gates)))

if __name__ == "__main__":
    app.main()
