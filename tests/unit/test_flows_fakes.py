"""Shared by the flow handler tests (no tests here): records, deps, and small connector fakes.

Each fake implements only the few connector methods the flows call, records what was written,
and answers lookups from plain dicts, so a handler runs without Kafka, HTTP or a sandbox.
"""

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from bizbus.connectors.base import ApplyResult, Cursor, Outcome, SinkCommand, SourceRecord
from bizbus.connectors.errors import MappingError
from bizbus.flows.context import FlowDeps
from bizbus.flows.runtime.polling import raw_event
from bizbus.flows.runtime.record import RawRecord
from bizbus.flows.runtime.spec import Emit, Output, Put, deliver
from bizbus.flows.xref import Xref
from bizbus.schemas import Envelope, encode_record, make_event
from bizbus.schemas.values import Payload

WHEN = datetime(2026, 11, 27, 5, 0, tzinfo=UTC)
INTEGRATION_USER = "005BIZBUS0000000"


def record_of(event: Envelope[Any], topic: str, *, offset: int = 0) -> RawRecord:
    """Return `event` as the runtime would consume it from `topic`."""
    key, value, headers = encode_record(event)
    return RawRecord(topic, 0, offset, key, value, headers)


def event_record(payload: Payload, topic: str, *, origin: Any = "crm") -> RawRecord:
    """Return a fresh event of `payload` as a consumed record of `topic`."""
    event = make_event(payload, source="bizbus://tests", correlationid="deal-1", origin=origin)
    return record_of(event, topic)


def source_record(
    system: Any, entity: str, row: Mapping[str, Any], topic: str, *, deleted: bool = False
) -> RawRecord:
    """Return a polled row as its raw `src.*` record."""
    record_id = str(row.get("Id") or row.get("id"))
    polled = SourceRecord(
        entity, record_id, Cursor(WHEN, record_id), dict(row), WHEN, deleted=deleted
    )
    return record_of(raw_event(system, polled), topic)


def emits(outputs: Sequence[Output]) -> list[Emit]:
    """Return the Emits among a handler's outputs, in order."""
    return [output for output in outputs if isinstance(output, Emit)]


def emitted(outputs: Sequence[Output]) -> list[Envelope[Any]]:
    """Return the events among a handler's outputs, in order."""
    return [emit.event for emit in emits(outputs)]


async def settle(outputs: Sequence[Output]) -> list[Envelope[Any]]:
    """Deliver outputs as the runtime would (Puts applied); return the events published."""
    published: list[Emit] = []

    async def publish(emit: Emit) -> None:
        published.append(emit)

    await deliver(outputs, publish)
    return [emit.event for emit in published]


def puts(outputs: Sequence[Output]) -> list[tuple[str, Any]]:
    """Return the (key, value) of each table write among the outputs."""
    return [(output.key, output.value) for output in outputs if isinstance(output, Put)]


class Clock:
    """A clock a test moves by hand."""

    def __init__(self, now: float = WHEN.timestamp()) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FakeCrm:
    """The CRM connector's surface the flows use, over dicts."""

    client_tag = "bizbus"

    def __init__(
        self,
        records: dict[tuple[str, str], dict[str, Any]] | None = None,
        *,
        answer: Callable[[str], list[dict[str, Any]]] | None = None,
    ) -> None:
        self.records = records or {}
        self.answer = answer or (lambda soql: [])
        self.queries: list[str] = []
        self.updates: list[tuple[str, str, dict[str, Any]]] = []
        self.applied: list[SinkCommand] = []
        self.changed: list[SourceRecord] = []

    def echo_hint(self, row: dict[str, Any]) -> str | None:
        return self.client_tag if row.get("LastModifiedById") == INTEGRATION_USER else None

    async def get(self, obj: str, record_id: str, *, fields: Any = None) -> dict[str, Any]:
        return self.records[(obj, record_id)]

    async def query(self, soql: str) -> list[dict[str, Any]]:
        self.queries.append(soql)
        return self.answer(soql)

    async def update_by_id(self, obj: str, record_id: str, fields: dict[str, Any]) -> ApplyResult:
        self.updates.append((obj, record_id, fields))
        return ApplyResult(Outcome.UPDATED)

    async def apply(self, command: SinkCommand) -> ApplyResult:
        self.applied.append(command)
        return ApplyResult(Outcome.CREATED, {"salesforce_id": f"NEW{len(self.applied)}"})

    async def changes(self, entity: str, since: Cursor | None) -> AsyncIterator[SourceRecord]:
        for record in self.changed:
            if record.entity == entity:
                yield record


class FakeErp:
    """The ERP connector's surface the flows use: rows by model and id, lookups, applies."""

    def __init__(
        self,
        rows: dict[str, dict[int, dict[str, Any]]] | None = None,
        *,
        apply: Callable[[SinkCommand], ApplyResult] | None = None,
    ) -> None:
        self.rows = rows or {}
        self.known: dict[tuple[str, str, str], int] = {}
        self.applied: list[SinkCommand] = []
        self.reads: list[tuple[str, list[int]]] = []
        self.actions: list[tuple[str, str, list[int]]] = []
        self.writes: list[tuple[str, list[int], dict[str, Any]]] = []
        self._apply = apply or (lambda command: ApplyResult(Outcome.CREATED, {"odoo_id": "1"}))
        self.lookups = self

    async def find(self, model: str, field: str, value: Any) -> int | None:
        return self.known.get((model, field, str(value)))

    async def resolve(self, ref: Any, value: Any) -> int:
        found = await self.find(ref.model, ref.key, value)
        if found is None:
            raise MappingError(f"odoo: unknown {ref.kind} {value}")
        return found

    async def apply(self, command: SinkCommand) -> ApplyResult:
        self.applied.append(command)
        return self._apply(command)

    async def read(self, model: str, ids: list[int], *, fields: Any = None) -> list[dict[str, Any]]:
        self.reads.append((model, list(ids)))
        return [{"id": i, **self.rows[model][i]} for i in ids if i in self.rows.get(model, {})]

    async def search_read(
        self, model: str, domain: list[Any], *, fields: Any = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        found = [
            {"id": i, **row}
            for i, row in sorted(self.rows.get(model, {}).items())
            if all(_matches(row, term) for term in domain)
        ]
        return found[:limit] if limit else found

    async def write(self, model: str, ids: list[int], values: dict[str, Any]) -> bool:
        self.writes.append((model, list(ids), dict(values)))
        return True

    async def call(self, model: str, method: str, args: list[Any], kwargs: Any = None) -> Any:
        if method != "search":  # a record action (e.g. action_cancel): recorded, done
            self.actions.append((model, method, list(args[0])))
            return True
        return [row["id"] for row in await self.search_read(model, args[0])]

    async def uid(self) -> int:
        return 99  # the integration user (write_uid of our own writes)


def _matches(row: Mapping[str, Any], term: tuple[str, str, Any]) -> bool:
    field, op, value = term
    if op == "in":
        return row.get(field) in value
    return bool(row.get(field) == value)


class FakeConnections:
    """`Connections` handing out fakes (None: a flow that calls it is a test failure)."""

    def __init__(self, crm: Any = None, erp: Any = None, oa: Any = None) -> None:
        self._crm, self._erp, self._oa = crm, erp, oa

    async def crm(self) -> Any:
        assert self._crm is not None, "the handler called the CRM"
        return self._crm

    async def erp(self) -> Any:
        assert self._erp is not None, "the handler called the ERP"
        return self._erp

    async def oa(self) -> Any:
        assert self._oa is not None, "the handler called the OA"
        return self._oa


def deps(crm: Any = None, erp: Any = None, oa: Any = None, *, clock: Any = None) -> FlowDeps:
    """Return flow deps over fakes, an empty xref and a fixed clock."""
    return FlowDeps(
        connections=FakeConnections(crm, erp, oa), xref=Xref({}), clock=clock or Clock()
    )
