"""A faust app whose input topic does not exist when it starts: forwards IN to OUT.

Run by the late-topic test with bizbus's assignor; it is test scaffolding, not product code.
"""

import os

import faust

from bizbus.flows.runtime.assignor import CheckedPartitionAssignor

app = faust.App(
    os.environ["LATE_APP_ID"],
    broker=f"kafka://{os.environ['LATE_BOOTSTRAP']}",
    store="memory://",
    datadir=os.environ["LATE_DATADIR"],
    topic_partitions=1,
    topic_replication_factor=1,
    web_enabled=False,
    PartitionAssignor=CheckedPartitionAssignor,
)
# Not internal: faust must not create it; the test does, after the group's first assignment.
source = app.topic(os.environ["LATE_IN"], key_type=str, value_type=str)
sink = app.topic(os.environ["LATE_OUT"], key_type=str, value_type=str)


@app.agent(source)
async def forward(stream):
    async for key, value in stream.items():
        await sink.send(key=key, value=value)


if __name__ == "__main__":
    app.main()
