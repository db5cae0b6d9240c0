"""Stream mode of the sandbox DingTalk: the gateway's ticket, the WebSocket, pushes and ACKs.

``POST /v1.0/gateway/connections/open`` {clientId, clientSecret, subscriptions} answers
``{endpoint, ticket}``; the client opens ``endpoint?ticket=`` (one use, 90 s). Each event goes
to one open connection of the app as ``{"specVersion", "type": "EVENT", "headers": {messageId,
eventId, eventType, eventBornTime, eventCorpId, topic, ...}, "data": "<event JSON>"}`` and
waits for its ACK ``{"code": 200, "headers": {"messageId"}, "data": <JSON with a status>}``:
SUCCESS (or code 200 without a status) delivers it; LATER, another code, no ACK within
``timeout_s`` or a dropped connection send it again (same eventId, new messageId) after the
delivery settings' backoff, to whichever connection is open then. Events with no connection
open wait for one; events before the app first opened the stream (it was in HTTP mode) are not
streamed. Every ACK is stored for tests (``GET /_sandbox/stream/deliveries``, which also counts
the connections open).
"""

import asyncio
import contextlib
import logging
import secrets
import time
import uuid
from collections.abc import Callable
from typing import Any

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect

from bizbus.deploy.sandbox.dingtalk.delivery import DeliverySettings
from bizbus.deploy.sandbox.store import SandboxStore

__all__ = ["StreamHub"]

logger = logging.getLogger(__name__)
_TICKET_TTL_S = 90.0
_DDL = """
CREATE TABLE IF NOT EXISTS stream_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL, instance_id TEXT NOT NULL,
    kind TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    acks TEXT NOT NULL DEFAULT '[]', payload TEXT NOT NULL
);
"""


class StreamHub:
    """The app's open stream connections and the events waiting for an ACK."""

    def __init__(
        self, store: SandboxStore, *, app_key: str, corp_id: str,
        settings: Callable[[], DeliverySettings],
    ) -> None:  # fmt: skip
        self.store = store
        self.app_key = app_key
        self.corp_id = corp_id
        self.settings = settings
        store.db.executescript(_DDL)
        self._tickets: dict[str, float] = {}
        self._open: dict[str, WebSocket] = {}
        self._waiting: asyncio.Queue[int] = asyncio.Queue()
        self._acks: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._sender: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self.enabled = bool(store.query("SELECT 1 FROM stream_deliveries LIMIT 1"))

    def ticket(self) -> str:
        """A one-use ticket for the WebSocket (the app now receives its events by stream)."""
        self.enabled = True
        value = secrets.token_urlsafe(24)
        self._tickets[value] = time.monotonic() + _TICKET_TTL_S
        return value

    def start(self) -> None:
        """Start sending (app lifespan); events left undelivered by an earlier run go again."""
        self._sender = asyncio.create_task(self._send_loop())
        for row in self.store.query("SELECT id FROM stream_deliveries WHERE status = 'pending'"):
            self._waiting.put_nowait(row["id"])

    async def stop(self) -> None:
        """Stop sending and close every connection."""
        tasks = [t for t in (self._sender, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for socket in list(self._open.values()):
            with contextlib.suppress(Exception):
                await socket.close()

    def publish(self, event: dict[str, Any]) -> None:
        """Queue one event for the stream (delivered once a connection is open)."""
        if not self.enabled:
            return
        body = {k: v for k, v in event.items() if k != "EventType"}
        with self.store.transaction() as db:
            cursor = db.execute(
                "INSERT INTO stream_deliveries (event_id, instance_id, kind, status, payload) "
                "VALUES (?, ?, ?, 'pending', ?)",
                (uuid.uuid4().hex, event.get("processInstanceId", ""), event.get("type", ""),
                 orjson.dumps({"eventType": event["EventType"], "body": body}).decode()),
            )  # fmt: skip
        self._waiting.put_nowait(int(cursor.lastrowid or 0))

    @property
    def connections(self) -> int:
        """How many stream clients are connected now."""
        return len(self._open)

    def deliveries(self) -> list[dict[str, Any]]:
        """Every stream delivery with its ACKs, oldest first."""
        rows = self.store.query("SELECT * FROM stream_deliveries ORDER BY id")
        for row in rows:
            row["payload"], row["acks"] = orjson.loads(row["payload"]), orjson.loads(row["acks"])
        return rows

    async def serve(self, socket: WebSocket) -> None:
        """One client connection: check its ticket, then read its ACKs until it goes."""
        ticket = socket.query_params.get("ticket", "")
        expiry = self._tickets.pop(ticket, None)
        if expiry is None or expiry < time.monotonic():
            await socket.close(code=4001, reason="invalid ticket")
            return
        await socket.accept()
        connection_id = uuid.uuid4().hex
        self._open[connection_id] = socket
        self._connected.set()
        try:
            while True:
                ack = orjson.loads(await socket.receive_text())
                message_id = (ack.get("headers") or {}).get("messageId")
                waiting = self._acks.pop(str(message_id), None)
                if waiting is not None and not waiting.done():
                    waiting.set_result(ack)
        except (WebSocketDisconnect, orjson.JSONDecodeError, RuntimeError):
            pass
        finally:
            self._open.pop(connection_id, None)
            if not self._open:
                self._connected.clear()

    async def _send_loop(self) -> None:
        while True:
            delivery_id = await self._waiting.get()
            await self._connected.wait()  # no client: the event waits for one
            task = asyncio.create_task(self._deliver(delivery_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(self, delivery_id: int) -> None:
        rows = self.store.query("SELECT * FROM stream_deliveries WHERE id = ?", (delivery_id,))
        if not rows or rows[0]["status"] != "pending" or not self._open:
            if rows and rows[0]["status"] == "pending":
                self._waiting.put_nowait(delivery_id)
            return
        row, settings = rows[0], self.settings()
        payload = orjson.loads(row["payload"])
        message_id = uuid.uuid4().hex
        now = int(time.time() * 1000)
        connection_id, socket = next(iter(self._open.items()))
        message = {
            "specVersion": "1.0", "type": "EVENT",
            "headers": {
                "appId": self.app_key, "connectionId": connection_id,
                "contentType": "application/json", "messageId": message_id, "time": str(now),
                "topic": "*", "eventBornTime": str(now), "eventCorpId": self.corp_id,
                "eventId": row["event_id"], "eventType": payload["eventType"],
                "eventUnifiedAppId": self.app_key,
            },
            "data": orjson.dumps(payload["body"]).decode(),
        }  # fmt: skip
        answer = asyncio.get_running_loop().create_future()
        self._acks[message_id] = answer
        outcome = "no ack"
        try:
            await socket.send_text(orjson.dumps(message).decode())
            ack = await asyncio.wait_for(answer, settings.timeout_s)
            outcome = _status(ack)
        except (TimeoutError, RuntimeError, WebSocketDisconnect):
            pass
        finally:
            self._acks.pop(message_id, None)
        attempt = row["attempts"] + 1
        acks = [*orjson.loads(row["acks"]), outcome]
        status = "delivered" if outcome == "SUCCESS" else (
            "failed" if attempt >= settings.max_attempts else "pending"
        )  # fmt: skip
        with self.store.transaction() as db:
            db.execute(
                "UPDATE stream_deliveries SET attempts = ?, status = ?, acks = ? WHERE id = ?",
                (attempt, status, orjson.dumps(acks).decode(), delivery_id),
            )
        if status == "pending":
            await asyncio.sleep(settings.retry_base_s * settings.retry_factor ** (attempt - 1))
            self._waiting.put_nowait(delivery_id)


def _status(ack: dict[str, Any]) -> str:
    """SUCCESS, LATER or the code of one ACK."""
    if ack.get("code") != 200:
        return f"code {ack.get('code')}"
    try:
        data = orjson.loads(ack.get("data") or "{}")
    except orjson.JSONDecodeError:
        data = {}
    status = data.get("status") if isinstance(data, dict) else None
    return "SUCCESS" if status in (None, "SUCCESS") else str(status)
