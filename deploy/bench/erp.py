"""The sandbox ERP side of the bench: its latency, the raw httpx baseline, and what it saw.

Calls are counted where they land: the ERP's request log (one line per `POST /jsonrpc`), and
timed by its effects log (first to last write of a batch), so the raw baseline (H0) and the
worker (P2) are measured by the same instrument. The raw baseline makes exactly the JSON-RPC
calls the Odoo sink makes for a sales-order command (4 for a new order: search_read, create,
read, action_confirm; 3 for a revision of a confirmed one: search_read, read lines, write), one
key's commands in order, `concurrency` keys at a time, on one pooled AsyncClient.
"""

import asyncio
import itertools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

from bizbus.deploy.bench.records import ORDER_LINES, revision_of
from bizbus.deploy.sandbox.company import CUSTOMERS, product
from bizbus.deploy.sandbox.registry import SYSTEMS

__all__ = ["ErpMark", "ErpSandbox", "ErpWindow", "OrderCheck"]

_CREDENTIALS = SYSTEMS["erp"].credentials
_CALL_LINE = b'"POST /jsonrpc '
_ORDER_FIELDS = ["id", "name", "state", "order_line", "partner_id", "origin"]
_LINE_FIELDS = ["product_id", "product_uom_qty", "price_unit", "discount", "name"]


@dataclass(frozen=True)
class ErpMark:
    """Where the ERP's logs stood before a batch: effects sequence and request-log offset."""

    seq: int
    log_offset: int


@dataclass(frozen=True)
class ErpWindow:
    """What the ERP saw of one batch: calls, and the time from its first to its last write."""

    calls: int
    seconds: float
    effects: list[dict[str, Any]]

    @property
    def calls_per_s(self) -> float:
        """Return ERP calls per second over the batch."""
        return self.calls / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class OrderCheck:
    """Whether every key's commands took effect in order and the ERP holds the last revision."""

    keys: int
    in_order: int
    final_ok: int

    @property
    def kept(self) -> bool:
        """Return True when every key was applied in order and ends at its last revision."""
        return self.in_order == self.keys and self.final_ok == self.keys


class ErpSandbox:
    """A running sandbox ERP, driven over JSON-RPC by the raw baseline and read back after."""

    def __init__(self, url: str, log_path: Path) -> None:
        self.url = url
        self.log_path = log_path
        self._ids = itertools.count(1)

    async def set_latency(self, latency_ms: float) -> None:
        """Add `latency_ms` to every API call (0 removes every fault)."""
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as control:
            if latency_ms:
                response = await control.post("/_sandbox/faults", json={"latency_ms": latency_ms})
            else:
                response = await control.delete("/_sandbox/faults")
            response.raise_for_status()

    async def _effects(self, since: int) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as control:
            response = await control.get("/_sandbox/effects", params={"since": since})
            response.raise_for_status()
            rows: list[dict[str, Any]] = response.json()["effects"]
            return rows

    async def mark(self) -> ErpMark:
        """Return where the ERP's effects and request logs stand now."""
        rows = await self._effects(0)
        seq = max((int(row["seq"]) for row in rows), default=0)
        return ErpMark(seq, self.log_path.stat().st_size)

    async def window(self, mark: ErpMark) -> ErpWindow:
        """Return the calls and write-to-write time of everything since `mark`."""
        rows = await self._effects(mark.seq)
        with self.log_path.open("rb") as log:
            log.seek(mark.log_offset)
            calls = log.read().count(_CALL_LINE)
        stamps = [datetime.fromisoformat(row["at"]) for row in rows]
        seconds = (max(stamps) - min(stamps)).total_seconds() if len(stamps) > 1 else 0.0
        return ErpWindow(calls, seconds, rows)

    async def _call(self, client: httpx.AsyncClient, uid: int, *call: Any) -> Any:
        body = {"jsonrpc": "2.0", "method": "call", "id": next(self._ids),
                "params": {"service": "object", "method": "execute_kw",
                           "args": [_CREDENTIALS["db"], uid,
                                    _CREDENTIALS["integration_api_key"], *call]}}  # fmt: skip
        response = await client.post(
            "/jsonrpc", content=orjson.dumps(body), headers={"Content-Type": "application/json"}
        )
        answer = orjson.loads(response.content)
        if response.status_code != 200 or "error" in answer:
            raise RuntimeError(f"raw ERP call {call[:2]} failed: {response.text[:300]}")
        return answer["result"]

    async def _uid(self, client: httpx.AsyncClient) -> int:
        body = {"jsonrpc": "2.0", "method": "call", "id": next(self._ids),
                "params": {"service": "common", "method": "authenticate",
                           "args": [_CREDENTIALS["db"], _CREDENTIALS["integration_login"],
                                    _CREDENTIALS["integration_api_key"], {}]}}  # fmt: skip
        response = await client.post("/jsonrpc", content=orjson.dumps(body))
        return int(orjson.loads(response.content)["result"])

    async def raw_orders(
        self, keys: Sequence[str], *, revisions: int, concurrency: int
    ) -> ErpWindow:
        """Apply the sales-order commands of `keys` with raw httpx: the sink's calls, no sink.

        Log-in and reference lookups happen before the mark: the sink caches them as well.
        """
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(base_url=self.url, limits=limits, timeout=30) as client:
            uid = await self._uid(client)
            ids = await self._reference_ids(client, uid)
            queue = iter(enumerate(keys))
            mark = await self.mark()

            async def lane() -> None:
                for index, key in queue:
                    for revision in range(1, revisions + 1):
                        await self._apply(client, uid, ids, index, key, revision)

            await asyncio.gather(*(lane() for _ in range(concurrency)))
        return await self.window(mark)

    async def _reference_ids(self, client: httpx.AsyncClient, uid: int) -> dict[str, int]:
        """Customer and product ids, looked up once (the sink keeps them in its LRU too)."""
        ids = {}
        for buyer in CUSTOMERS:
            [ids[buyer.number]] = await self._call(
                client, uid, "res.partner", "search", [[("ref", "=", buyer.number)]], {"limit": 1}
            )
        for code, _ in ORDER_LINES:
            [ids[code]] = await self._call(
                client, uid, "product.product", "search", [[("default_code", "=", code)]],
                {"limit": 1},
            )  # fmt: skip
        return ids

    async def _apply(
        self,
        client: httpx.AsyncClient,
        uid: int,
        ids: dict[str, int],
        index: int,
        key: str,
        revision: int,
    ) -> None:
        origin = f"CRM {key}/r{revision}"
        found = await self._call(
            client, uid, "sale.order", "search_read", [[("client_order_ref", "=", key)]],
            {"fields": _ORDER_FIELDS, "limit": 2},
        )  # fmt: skip
        if not found:
            lines = [
                (0, 0, {"product_uom_qty": float(quantity),
                        "price_unit": float(product(code).list_price), "discount": 0.0,
                        "name": product(code).name, "product_id": ids[code]})
                for code, quantity in ORDER_LINES
            ]  # fmt: skip
            partner = ids[CUSTOMERS[index % len(CUSTOMERS)].number]
            values = {"partner_id": partner, "origin": origin, "client_order_ref": key,
                      "order_line": lines}  # fmt: skip
            record_id = await self._call(client, uid, "sale.order", "create", [values], {})
            await self._call(
                client, uid, "sale.order", "read", [[record_id]], {"fields": ["name", "state"]}
            )
            await self._call(client, uid, "sale.order", "action_confirm", [[record_id]], {})
            return
        [order] = found
        await self._call(
            client, uid, "sale.order.line", "read", [order["order_line"]], {"fields": _LINE_FIELDS}
        )
        await self._call(
            client, uid, "sale.order", "write", [[order["id"]], {"origin": origin}], {}
        )

    async def check_order(
        self, keys: Sequence[str], effects: list[dict[str, Any]], *, revisions: int
    ) -> OrderCheck:
        """Check from the ERP's records that each key's revisions landed in order, last wins.

        `effects` are the batch's writes: per key, the revisions its sales order's `origin`
        took must rise one by one; the order the ERP holds now must carry the last revision.
        """
        seen: dict[str, list[int]] = defaultdict(list)
        for row in effects:
            if row["object"] != "sale.order" or row.get("key") is None:
                continue
            revision = revision_of((row.get("detail") or {}).get("vals", {}).get("origin"))
            if revision is not None:
                seen[str(row["key"])].append(revision)
        wanted = list(range(1, revisions + 1))
        in_order = sum(1 for key in keys if seen.get(key) == wanted)
        async with httpx.AsyncClient(base_url=self.url, timeout=60) as client:
            uid = await self._uid(client)
            domain = [("client_order_ref", "in", list(keys))]
            fields = ["client_order_ref", "origin", "state"]
            rows = await self._call(
                client, uid, "sale.order", "search_read", [domain], {"fields": fields}
            )
        final_ok = sum(
            1 for row in rows if revision_of(row["origin"]) == revisions and row["state"] == "sale"
        )
        return OrderCheck(len(keys), in_order, final_ok)
