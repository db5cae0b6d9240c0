"""A tiny faust app run as a real worker process by the restart test: counts events per key.

Configured from the environment the test sets; it is test scaffolding, not product code.
"""

import os

import faust

from bizbus.flows.runtime.assignor import CheckedPartitionAssignor

app = faust.App(
    os.environ["COUNTER_APP_ID"],
    broker=f"kafka://{os.environ['COUNTER_BOOTSTRAP']}",
    store="memory://",
    datadir=os.environ["COUNTER_DATADIR"],
    topic_partitions=1,
    topic_replication_factor=1,
    web_enabled=False,
    broker_commit_every=1,
    producer_acks=-1,
    # faust declares its changelog and leader topics as it starts; a topic that reaches the
    # metadata after the first assignment is picked up by a rejoin, not 5 minutes later.
    PartitionAssignor=CheckedPartitionAssignor,
)
source = app.topic(os.environ["COUNTER_IN"], key_type=str, value_type=str)
sink = app.topic(os.environ["COUNTER_OUT"], key_type=str, value_type=str)
counts = app.Table("counts", default=int, partitions=1)


@app.agent(source)
async def count(stream):
    async for key, _ in stream.items():
        counts[key] += 1
        await sink.send(key=key, value=str(counts[key]))


if __name__ == "__main__":
    app.main()
