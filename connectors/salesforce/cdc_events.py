"""Change Data Capture events as the Pub/Sub API delivers them: Avro payloads, bitmap headers.

Schemas are fetched once per schema id (``GetSchema``) and kept. ``changedFields`` and
``nulledFields`` arrive as bitmaps (bit i = field i of the event's Avro schema, hex strings,
compound fields as ``"<position>-0x..."``); ``decode`` expands them into field names.
``changeOrigin`` carries the writer's ``Sforce-Call-Options`` client (``...;client=<name>``).
"""

import io
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import fastavro
import orjson

from bizbus.connectors.errors import SchemaError

__all__ = ["ChangeHeader", "SchemaCache", "client_of", "expand_bitmap"]

GAP_OVERFLOW = "GAP_OVERFLOW"


@dataclass(frozen=True, slots=True)
class ChangeHeader:
    """The parts of a ``ChangeEventHeader`` bizbus acts on.

    Attributes:
        entity: ``entityName`` (the sObject).
        record_ids: ``recordIds`` (several for a merged change; none for an overflow).
        change_type: ``changeType`` (CREATE, UPDATE, DELETE, UNDELETE, GAP_*, GAP_OVERFLOW).
        origin: ``changeOrigin`` (empty when the writer set no client).
        commit_ms: ``commitTimestamp`` in epoch milliseconds.
        changed: ``changedFields`` expanded into names.
    """

    entity: str
    record_ids: tuple[str, ...]
    change_type: str
    origin: str
    commit_ms: int
    changed: tuple[str, ...]

    @property
    def overflow(self) -> bool:
        """True when the event stands for changes it could not list (read them by query)."""
        return self.change_type == GAP_OVERFLOW


def client_of(origin: str) -> str | None:
    """The ``client=`` part of a ``changeOrigin``, or None."""
    for part in origin.split(";"):
        key, _, value = part.strip().partition("=")
        if key == "client" and value:
            return value
    return None


def expand_bitmap(bitmaps: list[str], names: list[str]) -> list[str]:
    """The top-level field names a Pub/Sub API bitmap marks (compound parts are skipped)."""
    fields: list[str] = []
    for value in bitmaps:
        if "-" in value:
            continue  # a compound field's sub-fields: bizbus reads whole records instead
        bits = int(value, 16)
        fields += [name for position, name in enumerate(names) if bits >> position & 1]
    return fields


class SchemaCache:
    """Avro schemas by id, each fetched once with ``fetch(schema_id) -> schema JSON``."""

    def __init__(self, fetch: Callable[[str], Awaitable[str]]) -> None:
        self._fetch = fetch
        self._schemas: dict[str, tuple[Any, list[str]]] = {}

    async def decode(self, schema_id: str, payload: bytes) -> tuple[ChangeHeader, dict[str, Any]]:
        """Decode one event: its header and its record fields (unchanged ones are None).

        Raises:
            SchemaError: The payload does not match its schema, or has no change header.
        """
        if schema_id not in self._schemas:
            schema = orjson.loads(await self._fetch(schema_id))
            self._schemas[schema_id] = (
                fastavro.parse_schema(schema),
                [field["name"] for field in schema["fields"]],
            )
        parsed, names = self._schemas[schema_id]
        try:
            record = fastavro.schemaless_reader(io.BytesIO(payload), parsed, None)
            assert isinstance(record, dict)  # noqa: S101 - a record schema decodes to a dict
            raw = record.pop("ChangeEventHeader")
            header = ChangeHeader(
                entity=str(raw["entityName"]),
                record_ids=tuple(str(i) for i in raw["recordIds"]),
                change_type=str(raw["changeType"]),
                origin=str(raw.get("changeOrigin") or ""),
                commit_ms=int(raw["commitTimestamp"]),
                changed=tuple(expand_bitmap(list(raw.get("changedFields") or []), names)),
            )
        except (ValueError, KeyError, TypeError, EOFError, AssertionError) as error:
            raise SchemaError(
                f"salesforce: undecodable change event ({type(error).__name__})"
            ) from None
        return header, record
