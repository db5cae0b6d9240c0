"""A pure stage's records for the batch loop: outputs become records to produce, errors too.

A pure stage calls no system and keeps no table, so the only failures are the record's own
(schema, mapping, a bug): those become a dead-letter record in the same batch, and the key is
held as in every stage (`holds.py`). Several pure stages on one topic run in declaration order.
"""

import logging
from collections.abc import Callable, Mapping, Sequence

from bizbus.flows.runtime.batch_runner import Outgoing, RecordHandler
from bizbus.flows.runtime.deadletter import dead_letter_headers, safe_reason
from bizbus.flows.runtime.guard import GuardStats, HeldBehindDeadLetterError
from bizbus.flows.runtime.holds import REPLAY_HEADER, Holds
from bizbus.flows.runtime.logs import bind_record, unbind
from bizbus.flows.runtime.record import RawRecord
from bizbus.flows.runtime.spec import Emit, StageSpec
from bizbus.flows.runtime.trace_index import input_links, output_hops
from bizbus.schemas import KeyRing, dlq_for, encode_record, topic_for

log = logging.getLogger("bizbus.batch")


class TableWriteInPureStageError(RuntimeError):
    """A stage declared pure returned a table write; declare it with its state instead."""


def encode_emit(
    emit: Emit, topic_name: Callable[[str], str], keys: KeyRing | None = None
) -> Outgoing:
    """Return the record an Emit stands for: its physical topic, key, value and headers.

    `keys` seals its personal fields (a worker always has them).
    """
    key, value, headers = encode_record(emit.event, keys=keys)
    topic = topic_name(emit.topic or topic_for(emit.event.type))
    return topic, key, value, [*headers, *emit.headers]


def batch_handler(
    stages: Sequence[StageSpec],
    *,
    topic_name: Callable[[str], str],
    holds: Holds | None,
    keys: KeyRing | None = None,
    stats: Mapping[str, GuardStats] | None = None,
    flows: Mapping[str, str] | None = None,
    index: str | None = None,
) -> RecordHandler:
    """Return the batch loop's handler of one topic, running `stages` on each record.

    `stats` (by stage name) are the counters the metrics read; `flows` names each stage's flow
    for the log lines written while it handles a record; `index` is the trace-index topic the
    outputs' hops go to in the same batch (None: no index).
    """

    def encode(emit: Emit) -> Outgoing:
        return encode_emit(emit, topic_name, keys)

    def hops(record: RawRecord, emitted: list[Emit]) -> list[Outgoing]:
        if index is None or not emitted:
            return []
        return output_hops(index, emitted, topic_name) + input_links(index, record, emitted)

    counted = [
        (stage, (stats or {}).get(stage.name) or GuardStats(), (flows or {}).get(stage.name, ""))
        for stage in stages
    ]

    async def handle(record: RawRecord) -> list[Outgoing]:
        out: list[Outgoing] = []
        for stage, counts, flow in counted:
            counts.taken += 1
            bound = bind_record(flow, stage.name, record)
            try:
                out += await _run(stage, record, encode, holds, counts, hops)
            finally:
                unbind(bound)
        return out

    return handle


async def _run(
    stage: StageSpec,
    record: RawRecord,
    encode: Callable[[Emit], Outgoing],
    holds: Holds | None,
    counts: GuardStats,
    hops: Callable[[RawRecord, list[Emit]], list[Outgoing]],
) -> list[Outgoing]:
    held = holds is not None and holds.is_held(stage.name, record.key)
    replay = record.header(REPLAY_HEADER) is not None
    if held and not replay and holds is not None:
        await holds.refresh()  # a release made a moment ago lets it through
        held = holds.is_held(stage.name, record.key)
    if held and not replay:
        counts.held += 1
        counts.dead_lettered += 1  # as in the guard: a held record is a dead letter too
        return await _dead_letter(stage, record, HeldBehindDeadLetterError(), holds, hold=True)
    try:
        outputs = await stage.handler(record)
        encoded = []
        emitted: list[Emit] = []
        for output in outputs:
            if not isinstance(output, Emit):
                raise TableWriteInPureStageError(f"stage {stage.name} is pure but wrote a table")
            encoded.append(encode(output))
            emitted.append(output)
    except Exception as error:  # noqa: BLE001 - every failure of a pure stage is the record's
        counts.count(error)
        counts.dead_lettered += 1
        return await _dead_letter(stage, record, error, holds, hold=not held)
    if held and holds is not None:
        await holds.replayed(stage.name, record.key)
    counts.emitted += len(encoded)
    counts.done += 1
    return encoded + hops(record, emitted)


async def _dead_letter(
    stage: StageSpec,
    record: RawRecord,
    error: Exception,
    holds: Holds | None,
    *,
    hold: bool,
) -> list[Outgoing]:
    log.error(
        "dead-lettering %s[%d]@%d (stage %s): %s",
        record.topic, record.partition, record.offset, stage.name, safe_reason(error),
    )  # fmt: skip
    if hold and holds is not None:
        await holds.add(stage.name, record.key)
    headers = dead_letter_headers(record, error, attempts=1, stage=stage.name)
    return [(dlq_for(record.topic), record.key, record.value, headers)]
