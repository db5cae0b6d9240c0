"""HTTP push of the sandbox DingTalk: ``check_url`` on registration, then at-least-once delivery.

A callback URL is registered only once it answers the encrypted ``check_url`` event with an
encrypted, signed ``success``, as DingTalk's console checks it. Every event is sealed afresh per
attempt (new timestamp, nonce and random prefix) and retried after
retry_base_s * retry_factor**n while the receiver fails, answers late (``timeout_s``, DingTalk
waits 1.5 s) or answers anything but ``success``, up to ``max_attempts``. Attempts are stored
for tests (``GET /_sandbox/deliveries``).
"""

import asyncio
import contextlib
import logging
import secrets
import time
from typing import Any

import httpx
import orjson
from pydantic import BaseModel, Field

from bizbus.deploy.sandbox.dingtalk.crypto import open_sealed, seal, sign
from bizbus.deploy.sandbox.store import SandboxStore

__all__ = ["AppSecrets", "DeliverySettings", "Pusher", "RegistrationError"]

_DDL = """
CREATE TABLE IF NOT EXISTS callbacks (
    id INTEGER PRIMARY KEY AUTOINCREMENT, url TEXT NOT NULL, created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT, callback_id INTEGER NOT NULL, url TEXT NOT NULL,
    event_type TEXT NOT NULL, instance_id TEXT NOT NULL, kind TEXT NOT NULL,
    status TEXT NOT NULL, payload TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL, delivered_at REAL, last_error TEXT
);
"""
_WORKERS = 4
logger = logging.getLogger(__name__)


class DeliverySettings(BaseModel):
    """How hard the sandbox pushes."""

    retry_base_s: float = Field(default=1.0, ge=0, description="Delay before the first retry.")
    retry_factor: float = Field(default=2.0, ge=1, description="Growth of each next delay.")
    max_attempts: int = Field(default=5, ge=1, description="Attempts per event, first included.")
    timeout_s: float = Field(default=1.5, gt=0, description="Receiver answer deadline.")


class AppSecrets(BaseModel):
    """The app's subscription secrets the push seals with."""

    app_key: str
    token: str
    aes_key: str


class RegistrationError(Exception):
    """The callback URL did not answer ``check_url`` with ``success``; the message says why."""


class Pusher:
    """Callback registry plus the background delivery queue (started by the app lifespan)."""

    def __init__(self, store: SandboxStore, app: AppSecrets, settings: DeliverySettings) -> None:
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

    def _envelope(self, event: dict[str, Any]) -> tuple[dict[str, str], bytes, str, str]:
        stamp = str(int(time.time() * 1000))  # wall time, as signed: the sandbox clock may move
        nonce = secrets.token_hex(4)
        encrypt = seal(self.app.aes_key, self.app.app_key, orjson.dumps(event).decode())
        query = {"msg_signature": sign(self.app.token, stamp, nonce, encrypt),
                 "timestamp": stamp, "nonce": nonce}  # fmt: skip
        return query, orjson.dumps({"encrypt": encrypt}), stamp, nonce

    def _said_success(self, response: httpx.Response) -> str | None:
        """None when the answer is a signed, encrypted ``success``; else what was wrong."""
        if response.status_code != 200:
            return f"HTTP {response.status_code}"
        try:
            body = orjson.loads(response.content)
            encrypt = body["encrypt"]
            expected = sign(self.app.token, str(body["timeStamp"]), str(body["nonce"]), encrypt)
            if expected != body["msg_signature"]:
                return "reply signature does not match"
            message, _ = open_sealed(self.app.aes_key, encrypt)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return "reply is not an encrypted success"
        return None if message == "success" else "reply is not success"

    async def _post(self, url: str, event: dict[str, Any], deadline_s: float) -> str | None:
        query, body, _, _ = self._envelope(event)
        client = self._client or httpx.AsyncClient(trust_env=False)
        try:
            response = await client.post(
                url, params=query, content=body, timeout=deadline_s,
                headers={"Content-Type": "application/json"},
            )  # fmt: skip
        except httpx.HTTPError as exc:
            return type(exc).__name__
        return self._said_success(response)

    async def register(self, url: str) -> dict[str, Any]:
        """Check the URL with ``check_url``, then store it.

        Raises:
            RegistrationError: The receiver did not answer success in time.
        """
        if not url.startswith(("http://", "https://")):
            raise RegistrationError("url must be an http(s) URL")
        error = await self._post(url, {"EventType": "check_url"}, self.settings.timeout_s)
        if error is not None:
            raise RegistrationError(f"check_url failed: {error}")
        with self.store.transaction() as db:
            cursor = db.execute(
                "INSERT INTO callbacks (url, created_at) VALUES (?, ?)", (url, time.time())
            )
        return {"id": cursor.lastrowid, "url": url}

    def callbacks(self) -> list[dict[str, Any]]:
        """The registered callback URLs."""
        return self.store.query("SELECT * FROM callbacks ORDER BY id")

    def remove(self, callback_id: int | None) -> int:
        """Remove one callback (or all); returns how many went."""
        with self.store.transaction() as db:
            if callback_id is None:
                return db.execute("DELETE FROM callbacks").rowcount
            return db.execute("DELETE FROM callbacks WHERE id = ?", (callback_id,)).rowcount

    def publish(self, event: dict[str, Any]) -> None:
        """Queue ``event`` for every registered callback."""
        for callback in self.callbacks():
            with self.store.transaction() as db:
                cursor = db.execute(
                    "INSERT INTO deliveries (callback_id, url, event_type, instance_id, kind, "
                    "status, payload, created_at) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)",
                    (callback["id"], callback["url"], event["EventType"],
                     event.get("processInstanceId", ""), event.get("type", ""),
                     orjson.dumps(event).decode(), time.time()),
                )  # fmt: skip
            self._queue.put_nowait(int(cursor.lastrowid or 0))

    def deliveries(self, *, instance_id: str | None = None) -> list[dict[str, Any]]:
        """Every delivery (of one instance), oldest first, with its event."""
        sql, params = "SELECT * FROM deliveries", tuple[str, ...]()
        if instance_id is not None:
            sql, params = sql + " WHERE instance_id = ?", (instance_id,)
        rows = self.store.query(sql + " ORDER BY id", params)
        for row in rows:
            row["payload"] = orjson.loads(row["payload"])
        return rows

    async def _work(self) -> None:
        while True:
            delivery_id = await self._queue.get()
            try:
                await self._attempt(delivery_id)
            except Exception:  # a broken delivery must not stop the worker
                logger.exception("delivery %d failed", delivery_id)

    async def _attempt(self, delivery_id: int) -> None:
        rows = self.store.query("SELECT * FROM deliveries WHERE id = ?", (delivery_id,))
        if not rows or rows[0]["status"] != "pending":
            return
        row, settings = rows[0], self.settings
        error = await self._post(row["url"], orjson.loads(row["payload"]), settings.timeout_s)
        attempt = row["attempts"] + 1
        status = "delivered" if error is None else (
            "failed" if attempt >= settings.max_attempts else "pending"
        )  # fmt: skip
        with self.store.transaction() as db:
            db.execute(
                "UPDATE deliveries SET attempts = ?, status = ?, delivered_at = ?, last_error = ? "
                "WHERE id = ?",
                (attempt, status, time.time() if error is None else None, error, delivery_id),
            )
        if status == "pending":
            delay = settings.retry_base_s * settings.retry_factor ** (attempt - 1)

            def fire() -> None:
                self._timers.discard(timer)
                self._queue.put_nowait(delivery_id)

            timer = asyncio.get_running_loop().call_later(delay, fire)
            self._timers.add(timer)
