"""Change Data Capture of the sandbox CRM: every committed write becomes a change event.

Events live in the CRM's own SQLite (`_change_events`), written inside the write's transaction
(a rolled-back write leaves none), with Salesforce's `ChangeEventHeader`: entityName,
recordIds, changeType, changedFields/nulledFields as Pub/Sub API bitmaps (bit i = field i of
the Avro schema), commitTimestamp (ms), commitNumber, commitUser, transactionKey,
sequenceNumber and changeOrigin (`com/salesforce/api/rest/<ver>;client=<Sforce-Call-Options>`).
Record fields carry only what changed (unchanged and unset fields are null), datetimes as epoch
ms and dates as epoch days. Events older than the retention window are purged.
"""

import base64
import hashlib
import io
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import fastavro
import orjson

from bizbus.deploy.sandbox.crm.objects import OBJECTS, FieldDef, ObjectDef
from bizbus.deploy.sandbox.crm.values import parse_datetime
from bizbus.deploy.sandbox.store import SandboxStore

__all__ = [
    "CDC_OBJECTS",
    "ChangeEvent",
    "ChangeLog",
    "bitmap",
    "change_schema",
    "decode_bitmap",
    "replay_bytes",
    "replay_number",
]

# Every writable object is "selected for Change Data Capture" (Users are not written).
CDC_OBJECTS = tuple(name for name, obj in OBJECTS.items() if obj.writable)
# Salesforce leaves these out of change events (IsDeleted, SystemModstamp).
_LEFT_OUT = frozenset({"IsDeleted", "SystemModstamp"})
CHANGE_TYPES = ("CREATE", "UPDATE", "DELETE", "UNDELETE", "GAP_CREATE", "GAP_UPDATE",
                "GAP_DELETE", "GAP_UNDELETE", "GAP_OVERFLOW", "SNAPSHOT")  # fmt: skip
_DDL = """
CREATE TABLE IF NOT EXISTS _change_events (
    replay INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms INTEGER NOT NULL,
    entity TEXT NOT NULL,
    event TEXT NOT NULL
)
"""
_EPOCH = date(1970, 1, 1)
_ORIGIN = "com/salesforce/api/rest/60.0"  # a REST write; Sforce-Call-Options adds ";client="


def replay_bytes(replay: int) -> bytes:
    """The opaque replay id of an event: its sequence as 8 big-endian bytes."""
    return replay.to_bytes(8, "big")


def replay_number(replay_id: bytes) -> int | None:
    """The sequence behind a replay id, or None when the bytes are not one of ours."""
    return int.from_bytes(replay_id, "big") if len(replay_id) == 8 else None


def _avro_type(fdef: FieldDef) -> str:
    if fdef.type == "boolean":
        return "boolean"
    if fdef.type in ("double", "currency", "percent"):
        return "double"
    if fdef.type == "int":
        return "int"
    if fdef.type == "datetime":
        return "long"
    if fdef.type == "date":
        return "int"
    return "string"


def event_fields(obj: ObjectDef) -> tuple[FieldDef, ...]:
    """The record fields a change event of `obj` carries, in schema order."""
    return tuple(f for f in obj.fields if f.name not in _LEFT_OUT)


def change_schema(obj: ObjectDef) -> dict[str, Any]:
    """The Avro schema of `<Object>ChangeEvent` (header first, then nullable record fields)."""
    header = {
        "type": "record", "name": "ChangeEventHeader", "fields": [
            {"name": "entityName", "type": "string"},
            {"name": "recordIds", "type": {"type": "array", "items": "string"}},
            {"name": "changeType", "type": {"type": "enum", "name": "ChangeType",
                                            "symbols": list(CHANGE_TYPES)}},
            {"name": "changeOrigin", "type": "string"},
            {"name": "transactionKey", "type": "string"},
            {"name": "sequenceNumber", "type": "int"},
            {"name": "commitTimestamp", "type": "long"},
            {"name": "commitNumber", "type": "long"},
            {"name": "commitUser", "type": "string"},
            {"name": "nulledFields", "type": {"type": "array", "items": "string"}},
            {"name": "diffFields", "type": {"type": "array", "items": "string"}},
            {"name": "changedFields", "type": {"type": "array", "items": "string"}},
        ],
    }  # fmt: skip
    fields: list[dict[str, Any]] = [{"name": "ChangeEventHeader", "type": header}]
    fields += [
        {"name": f.name, "type": ["null", _avro_type(f)], "default": None}
        for f in event_fields(obj)
    ]
    return {
        "type": "record",
        "name": f"{obj.name}ChangeEvent",
        "namespace": "com.sforce.eventbus",
        "fields": fields,
    }


def _schema_id(schema: dict[str, Any]) -> str:
    canonical = orjson.dumps(schema, option=orjson.OPT_SORT_KEYS)
    digest = hashlib.md5(canonical, usedforsecurity=False).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def bitmap(positions: list[int]) -> list[str]:
    """Encode schema positions as the Pub/Sub API bitmap (``['0x...']``, empty when none)."""
    if not positions:
        return []
    return [f"0x{sum(1 << position for position in set(positions)):X}"]


def decode_bitmap(values: list[str], names: list[str]) -> list[str]:
    """The field names a bitmap names, given the schema's field names in order."""
    out: list[str] = []
    for value in values:
        if "-" in value:  # compound fields ("<parent position>-0x..."); this sandbox has none
            continue
        bits = int(value, 16)
        out += [name for position, name in enumerate(names) if bits >> position & 1]
    return out


@dataclass(frozen=True)
class ChangeEvent:
    """One stored event: its replay sequence, entity and decoded content."""

    replay: int
    entity: str
    at_ms: int
    content: dict[str, Any]


class ChangeLog:
    """Writes change events beside the records and reads them back for subscribers.

    Args:
        store: The CRM's store (events share its transactions).
        now_ms: The sandbox clock in epoch ms (retention follows it, so tests can step it).
        retention_s: How long events stay replayable (Salesforce keeps 72 h).
    """

    def __init__(
        self, store: SandboxStore, *, now_ms: Callable[[], int], retention_s: float
    ) -> None:
        self.store = store
        self.now_ms = now_ms
        self.retention_s = retention_s
        store.db.execute(_DDL)
        self.schemas = {name: change_schema(OBJECTS[name]) for name in CDC_OBJECTS}
        self.schema_ids = {name: _schema_id(schema) for name, schema in self.schemas.items()}
        self._parsed = {name: fastavro.parse_schema(s) for name, s in self.schemas.items()}
        self._names = {
            name: [f["name"] for f in schema["fields"]] for name, schema in self.schemas.items()
        }
        self._transaction: tuple[int, str] = (-1, "")
        self._sequence = 0
        self.listeners: list[Callable[[], None]] = []

    def _transaction_key(self) -> tuple[str, int]:
        current = self.store.transaction_number
        if self._transaction[0] != current:
            self._transaction = (current, str(uuid.uuid4()))
            self._sequence = 0
        self._sequence += 1
        return self._transaction[1], self._sequence

    def record(
        self,
        obj: ObjectDef,
        record_ids: list[str],
        change_type: str,
        values: dict[str, Any],
        *,
        changed: list[str],
        user_id: str,
        client: str | None,
        now: str,
    ) -> None:
        """Log one change of `obj` (inside the write's transaction); `values` hold new values."""
        if obj.name not in self.schemas:
            return
        names = self._names[obj.name]
        positions = {name: index for index, name in enumerate(names)}
        by_name = {f.name: f for f in event_fields(obj)}
        shown = [name for name in changed if name in by_name]
        record = {name: _avro_value(by_name[name], values.get(name)) for name in shown}
        nulled = [name for name in shown if record[name] is None]
        key, sequence = self._transaction_key()
        at = parse_datetime(now)
        at_ms = int(at.timestamp() * 1000)
        header = {
            "entityName": obj.name,
            "recordIds": record_ids,
            "changeType": change_type,
            "changeOrigin": _ORIGIN + (f";client={client}" if client else ""),
            "transactionKey": key,
            "sequenceNumber": sequence,
            "commitTimestamp": at_ms,
            "commitNumber": self.store.transaction_number,
            "commitUser": user_id,
            "nulledFields": bitmap([positions[name] for name in nulled]),
            "diffFields": [],
            "changedFields": bitmap([positions[name] for name in shown]),
        }
        content = {"ChangeEventHeader": header, **record}
        self.store.db.execute(
            "INSERT INTO _change_events (at_ms, entity, event) VALUES (?, ?, ?)",
            (at_ms, obj.name, orjson.dumps(content).decode()),
        )
        for listener in self.listeners:
            listener()

    def encode(self, event: ChangeEvent) -> bytes:
        """The event's Avro payload (schemaless binary, as the Pub/Sub API sends it)."""
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, self._parsed[event.entity], event.content)
        return buffer.getvalue()

    def purge(self) -> None:
        """Forget events older than the retention window."""
        horizon = self.now_ms() - int(self.retention_s * 1000)
        self.store.db.execute("DELETE FROM _change_events WHERE at_ms < ?", (horizon,))

    def latest(self) -> int:
        """The sequence of the newest event ever written (0: none yet)."""
        rows = self.store.query("SELECT seq FROM sqlite_sequence WHERE name = '_change_events'")
        return int(rows[0]["seq"]) if rows else 0

    def oldest(self) -> int | None:
        """The sequence of the oldest retained event, or None when none is retained."""
        self.purge()
        rows = self.store.query("SELECT MIN(replay) AS oldest FROM _change_events")
        return int(rows[0]["oldest"]) if rows and rows[0]["oldest"] is not None else None

    def after(self, replay: int, entities: frozenset[str], limit: int) -> list[ChangeEvent]:
        """Up to `limit` retained events of `entities` after sequence `replay`, oldest first."""
        self.purge()
        marks = ", ".join("?" for _ in entities)
        rows = self.store.query(
            f"SELECT * FROM _change_events WHERE replay > ? AND entity IN ({marks}) "  # noqa: S608 - only placeholders
            "ORDER BY replay LIMIT ?",
            (replay, *sorted(entities), limit),
        )
        return [
            ChangeEvent(row["replay"], row["entity"], row["at_ms"], orjson.loads(row["event"]))
            for row in rows
        ]


def _avro_value(fdef: FieldDef, value: Any) -> Any:
    if value is None:
        return None
    kind = _avro_type(fdef)
    if fdef.type == "datetime":
        return int(parse_datetime(str(value)).timestamp() * 1000)
    if fdef.type == "date":
        return (date.fromisoformat(str(value)[:10]) - _EPOCH).days
    if kind == "boolean":
        return bool(value)
    if kind == "double":
        return float(value)
    return str(value)


def epoch_ms(moment: datetime) -> int:
    """Epoch milliseconds of an aware datetime."""
    return int(moment.astimezone(UTC).timestamp() * 1000)
