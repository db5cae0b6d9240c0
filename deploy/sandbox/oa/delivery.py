"""Event push of the sandbox OA: request-URL check, then at-least-once delivery with backoff.

A callback is registered only after it echoes the `url_verification` challenge. Each event is
sealed afresh per attempt (new IV, timestamp, nonce; same event id) and retried after
retry_base_s * retry_factor**n while the receiver fails, times out or answers non-200, up to
max_attempts. Every attempt is stored so tests read it back (`GET /_sandbox/deliveries`).
"""

import asyncio
import contextlib
import time
import uuid as uuidlib
from typing import Any

import httpx
import orjson
from pydantic import BaseModel, Field

from bizbus.deploy.sandbox.oa.approvals import StatusChange
from bizbus.deploy.sandbox.oa.events import AppIdentity, events_for, seal, url_verification
from bizbus.deploy.sandbox.store import SandboxStore

__all__ = ["DeliverySettings", "Pusher", "RegistrationError"]

_DDL = """
CREATE TABLE IF NOT EXISTS callbacks (
    id INTEGER PRIMARY KEY AUTOINCREMENT, url TEXT NOT NULL, approval_code TEXT,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT, callback_id INTEGER NOT NULL, url TEXT NOT NULL,
    event_id TEXT NOT NULL, event_type TEXT NOT NULL, approval_code TEXT NOT NULL,
    instance_code TEXT NOT NULL, status TEXT NOT NULL, payload TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL, delivered_at REAL
);
CREATE TABLE IF NOT EXISTS delivery_attempts (
    delivery_id INTEGER NOT NULL, attempt INTEGER NOT NULL, at REAL NOT NULL,
    http_status INTEGER, error TEXT, elapsed_ms REAL NOT NULL
);
"""
_WORKERS = 4


class DeliverySettings(BaseModel):
    """How hard the OA tries to push (Feishu itself retries after 15 s, 5 min, 1 h, 6 h)."""

    retry_base_s: float = Field(default=1.0, ge=0, description="Delay before the first retry.")
    retry_factor: float = Field(default=2.0, ge=1, description="Growth of each next delay.")
    max_attempts: int = Field(default=5, ge=1, description="Attempts per event, first included.")
    timeout_s: float = Field(default=3.0, gt=0, description="Receiver answer deadline.")
    challenge_timeout_s: float = Field(
        default=1.0, gt=0, description="Deadline for echoing the url_verification challenge."
    )


class RegistrationError(Exception):
    """The callback URL did not pass the url_verification check; the message says why."""


def _event_fields(event: dict[str, Any]) -> tuple[str, str, str]:
    if event.get("schema") == "2.0":
        return event["header"]["event_id"], event["header"]["event_type"], "trip"
    return event["uuid"], event["event"]["type"], "instance"


class Pusher:
    """Callback registry plus the background delivery queue (started by the app lifespan)."""

    def __init__(self, store: SandboxStore, app: AppIdentity, settings: DeliverySettings) -> None:
        self.store = store
        self.app = app
        self.settings = settings
        store.db.executescript(_DDL)
        self._queue: asyncio.Queue[int] = asyncio.Queue()
        self._timers: set[asyncio.TimerHandle] = set()
        self._workers: list[asyncio.Task[None]] = []
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        """Start the workers and resume deliveries left pending by an earlier run."""
        self._client = httpx.AsyncClient(trust_env=False)
        self._workers = [asyncio.create_task(self._work()) for _ in range(_WORKERS)]
        for row in self.store.query("SELECT id FROM deliveries WHERE status = 'pending'"):
            self._queue.put_nowait(row["id"])

    async def stop(self) -> None:
        """Cancel timers and workers and close the HTTP client."""
        for timer in self._timers:
            timer.cancel()
        for worker in self._workers:
            worker.cancel()
        for worker in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        if self._client is not None:
            await self._client.aclose()

    # -- callbacks ---------------------------------------------------------------------------

    async def register(self, url: str, approval_code: str | None) -> dict[str, Any]:
        """Check the URL with a challenge, as Feishu does, then store it.

        Raises:
            RegistrationError: the receiver did not echo the challenge in time.
        """
        if not url.startswith(("http://", "https://")):
            raise RegistrationError("url must be an http(s) URL")
        challenge = str(uuidlib.uuid4())
        envelope = seal(self.app, url_verification(self.app, challenge))
        client = self._client or httpx.AsyncClient(trust_env=False)
        try:
            response = await client.post(
                url, content=envelope.body, headers=envelope.headers,
                timeout=self.settings.challenge_timeout_s,
            )  # fmt: skip
            echoed = (
                orjson.loads(response.content).get("challenge") if response.is_success else None
            )
        except (httpx.HTTPError, orjson.JSONDecodeError, AttributeError) as exc:
            raise RegistrationError(f"challenge request failed: {type(exc).__name__}") from None
        finally:
            if client is not self._client:
                await client.aclose()
        if echoed != challenge:
            raise RegistrationError(
                f"the receiver answered HTTP {response.status_code} without echoing the challenge"
            )
        cursor = self.store.db.execute(
            "INSERT INTO callbacks (url, approval_code, created_at) VALUES (?, ?, ?)",
            (url, approval_code, time.time()),
        )
        return {"id": cursor.lastrowid, "url": url, "approval_code": approval_code}

    def callbacks(self) -> list[dict[str, Any]]:
        """Return the registered callbacks."""
        return self.store.query("SELECT id, url, approval_code FROM callbacks ORDER BY id")

    def remove(self, callback_id: int | None) -> int:
        """Forget one callback (or all when None); its pending deliveries are abandoned."""
        where, params = ("WHERE id = ?", (callback_id,)) if callback_id is not None else ("", ())
        removed = self.store.db.execute(f"DELETE FROM callbacks {where}", params).rowcount  # noqa: S608 - fixed text
        self.store.db.execute(
            "UPDATE deliveries SET status = 'abandoned' WHERE status = 'pending' "
            "AND callback_id NOT IN (SELECT id FROM callbacks)"
        )
        return removed

    # -- deliveries --------------------------------------------------------------------------

    def publish(self, change: StatusChange) -> int:
        """Queue the events of one status change for every matching callback; return the count."""
        callbacks = self.store.query(
            "SELECT id, url FROM callbacks WHERE approval_code IS NULL OR approval_code = ?",
            (change.approval_code,),
        )
        count = 0
        for event in events_for(self.app, change):
            event_id, event_type, _ = _event_fields(event)
            for callback in callbacks:
                cursor = self.store.db.execute(
                    "INSERT INTO deliveries (callback_id, url, event_id, event_type, "
                    "approval_code, instance_code, status, payload, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
                    (callback["id"], callback["url"], event_id, event_type, change.approval_code,
                     change.instance_code, orjson.dumps(event).decode(), time.time()),
                )  # fmt: skip
                assert cursor.lastrowid is not None  # noqa: S101 - INSERT always sets it
                self._queue.put_nowait(cursor.lastrowid)
                count += 1
        return count

    def deliveries(
        self, *, since: int = 0, instance_code: str | None = None
    ) -> list[dict[str, Any]]:
        """Return deliveries after id `since` with their attempts and plaintext event."""
        sql = "SELECT * FROM deliveries WHERE id > ?"
        params: list[Any] = [since]
        if instance_code is not None:
            sql += " AND instance_code = ?"
            params.append(instance_code)
        rows = self.store.query(sql + " ORDER BY id", params)
        for row in rows:
            row["event"] = orjson.loads(row.pop("payload"))
            row["attempt_log"] = self.store.query(
                "SELECT attempt, at, http_status, error, elapsed_ms FROM delivery_attempts "
                "WHERE delivery_id = ? ORDER BY attempt",
                (row["id"],),
            )
        return rows

    async def _work(self) -> None:
        while True:
            delivery_id = await self._queue.get()
            try:
                await self._attempt(delivery_id)
            except Exception:  # noqa: BLE001 - a bad row must not kill the worker
                self.store.db.execute(
                    "UPDATE deliveries SET status = 'failed' WHERE id = ?", (delivery_id,)
                )

    async def _attempt(self, delivery_id: int) -> None:
        rows = self.store.query("SELECT * FROM deliveries WHERE id = ?", (delivery_id,))
        if not rows or rows[0]["status"] != "pending" or self._client is None:
            return
        row, settings = rows[0], self.settings
        attempt = row["attempts"] + 1
        envelope = seal(self.app, orjson.loads(row["payload"]))
        started = time.monotonic()
        http_status: int | None = None
        error: str | None = None
        try:
            response = await self._client.post(
                row["url"], content=envelope.body, headers=envelope.headers,
                timeout=settings.timeout_s,
            )  # fmt: skip
            http_status = response.status_code
            if http_status != 200:
                error = f"HTTP {http_status}"
        except httpx.HTTPError as exc:
            error = type(exc).__name__
        elapsed_ms = (time.monotonic() - started) * 1000
        now = time.time()
        if error is None:
            status = "delivered"
        elif attempt >= settings.max_attempts:
            status = "failed"
        else:
            status = "pending"
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO delivery_attempts VALUES (?, ?, ?, ?, ?, ?)",
                (delivery_id, attempt, now, http_status, error, elapsed_ms),
            )
            db.execute(
                "UPDATE deliveries SET attempts = ?, status = ?, delivered_at = ? WHERE id = ?",
                (attempt, status, now if error is None else None, delivery_id),
            )
        if status == "pending":
            delay = settings.retry_base_s * settings.retry_factor ** (attempt - 1)
            self._later(delay, delivery_id)

    def _later(self, delay: float, delivery_id: int) -> None:
        def fire() -> None:
            self._timers.discard(timer)
            self._queue.put_nowait(delivery_id)

        timer = asyncio.get_running_loop().call_later(delay, fire)
        self._timers.add(timer)
