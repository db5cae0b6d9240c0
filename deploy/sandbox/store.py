"""SQLite storage shared by the sandbox servers, and the effects log tests read back.

One connection per server: the servers are single-threaded asyncio apps, so no locking needed.
"""

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

_EFFECTS_DDL = """
CREATE TABLE IF NOT EXISTS _effects (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    action TEXT NOT NULL,
    object TEXT NOT NULL,
    record_id TEXT NOT NULL,
    key TEXT,
    client TEXT,
    detail TEXT NOT NULL
)
"""


class SandboxStore:
    """A SQLite database file (or memory) with row dicts and an effects log."""

    def __init__(self, path: Path | str = ":memory:") -> None:
        self.db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(_EFFECTS_DDL)
        self.transaction_number = 0  # counts transactions (the CRM's change events key on it)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run a block atomically: committed on success, rolled back on error."""
        self.db.execute("BEGIN IMMEDIATE")
        self.transaction_number += 1
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def query(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> list[dict[str, Any]]:
        """Return the rows of a SELECT as plain dicts."""
        return [dict(row) for row in self.db.execute(sql, params).fetchall()]

    def record_effect(
        self,
        *,
        action: str,
        object_name: str,
        record_id: str,
        key: str | None = None,
        client: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Log one write (create/update/delete/...) with its idempotency key or external ref."""
        self.db.execute(
            "INSERT INTO _effects (at, action, object, record_id, key, client, detail) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                datetime.now(UTC).isoformat(),
                action,
                object_name,
                record_id,
                key,
                client,
                orjson.dumps(detail or {}, default=str).decode(),
            ),
        )

    def effects(self, *, since: int = 0, object_name: str | None = None) -> list[dict[str, Any]]:
        """Return logged writes after sequence number `since`, oldest first."""
        sql = "SELECT * FROM _effects WHERE seq > ?"
        params: list[Any] = [since]
        if object_name is not None:
            sql += " AND object = ?"
            params.append(object_name)
        rows = self.query(sql + " ORDER BY seq", params)
        for row in rows:
            row["detail"] = orjson.loads(row["detail"])
        return rows
