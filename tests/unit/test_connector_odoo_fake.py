"""Shared by the Odoo unit tests (no tests here): an in-memory Odoo speaking `execute_kw`."""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson

from bizbus.connectors.odoo import OdooConnector, OdooSettings
from bizbus.connectors.settings import load_settings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "odoo"
KEY = "unit-test-key"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def settings(**values: Any) -> OdooSettings:
    base = {"base_url": "http://odoo.test", "db": "bizbus", "login": "bizbus", "api_key": KEY}
    return load_settings(OdooSettings, **{**base, **values})


def matches(row: dict[str, Any], domain: list[Any]) -> bool:
    """Polish-notation domains with ``& | = != > >= < <= in like``."""

    def term(t: Any) -> bool:
        field, op, value = t
        have = row.get(field)
        have = have[0] if isinstance(have, list) and have and isinstance(have[0], int) else have
        ops: dict[str, Callable[[], bool]] = {
            "=": lambda: have == value or (value is False and have in (None, False)),
            "!=": lambda: have != value,
            ">": lambda: have is not None and have > value,
            ">=": lambda: have is not None and have >= value,
            "<": lambda: have is not None and have < value,
            "<=": lambda: have is not None and have <= value,
            "in": lambda: have in value,
            "like": lambda: isinstance(have, str) and value in have,
        }
        return ops[op]()

    def parse(items: list[Any]) -> tuple[bool, list[Any]]:
        head, rest = items[0], items[1:]
        if head in ("&", "|"):
            left, rest = parse(rest)
            right, rest = parse(rest)
            return (left and right) if head == "&" else (left or right), rest
        return term(head), rest

    items, result = list(domain), True
    while items:
        value, items = parse(items)
        result = result and value
    return result


class FakeOdoo:
    """Tables of records; ``handler`` answers JSON-RPC like Odoo and logs ``(model, method)``."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[int, dict[str, Any]]] = {}
        self.calls: list[tuple[str, str]] = []
        self.bodies: list[dict[str, Any]] = []
        self.next_id = 100
        self.authentications = 0

    def add(self, model: str, **values: Any) -> int:
        self.next_id += 1
        record = {"id": self.next_id, **values}
        self.tables.setdefault(model, {})[self.next_id] = record
        return self.next_id

    def rows(self, model: str) -> list[dict[str, Any]]:
        return list(self.tables.get(model, {}).values())

    def _read(self, model: str, record: dict[str, Any], fields: list[str]) -> dict[str, Any]:
        names = fields or list(record)
        out = {"id": record["id"]}
        for name in names:
            value = record.get(name, False)
            if name.endswith("_id") and isinstance(value, int) and name != "id":
                value = [value, f"name {value}"]
            if name == "order_line":
                value = [i for i, line in self.tables.get("sale.order.line", {}).items()
                         if line["order_id"] == record["id"]]  # fmt: skip
            out[name] = value
        return out

    def _search(self, model: str, domain: list[Any], kwargs: dict[str, Any]) -> list[int]:
        found = [r for r in self.rows(model) if matches(r, domain)]
        if kwargs.get("order") == "write_date asc, id asc":
            found.sort(key=lambda r: (r["write_date"], r["id"]))
        limit = kwargs.get("limit")
        return [r["id"] for r in (found[:limit] if limit else found)]

    def _lines(self, order_id: int, commands: list[Any]) -> None:
        lines = self.tables.setdefault("sale.order.line", {})
        for command in commands:
            if command[0] == 5:
                for line_id in [i for i, ln in lines.items() if ln["order_id"] == order_id]:
                    del lines[line_id]
            elif command[0] == 0:
                self.add("sale.order.line", order_id=order_id, **command[2])

    def execute(self, model: str, method: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        self.calls.append((model, method))
        table = self.tables.setdefault(model, {})
        if method in ("search", "search_read", "search_count"):
            ids = self._search(model, args[0] if args else [], kwargs)
            if method == "search":
                return ids
            if method == "search_count":
                return len(ids)
            return [self._read(model, table[i], kwargs.get("fields") or []) for i in ids]
        if method == "read":
            return [self._read(model, table[i], kwargs.get("fields") or []) for i in args[0]]
        if method == "create":
            values = dict(args[0])
            lines = values.pop("order_line", [])
            record_id = self.add(model, **values)
            if model == "sale.order":
                table[record_id].update(name=f"S{record_id:05d}", state="draft")
                self._lines(record_id, lines)
            if model == "hr.leave":
                table[record_id]["state"] = "confirm"
            return record_id
        if method == "write":
            for record_id in args[0]:
                values = dict(args[1])
                self._lines(record_id, values.pop("order_line", []))
                table[record_id].update(values)
            return True
        states = {
            "action_confirm": "sale",
            "action_refuse": "refuse",
            "action_validate": "validate",
        }
        if method in states:
            for record_id in args[0]:
                table[record_id]["state"] = states[method]
            return True
        raise AssertionError(f"unexpected call {model}.{method}")

    def handler(self, request: httpx.Request) -> httpx.Response:
        body = orjson.loads(request.content)
        self.bodies.append(body)
        params = body["params"]
        if params["service"] == "common":
            self.authentications += 1
            return httpx.Response(200, json={"jsonrpc": "2.0", "id": body["id"], "result": 3})
        db, uid, key, model, method, args, kwargs = params["args"]
        assert (db, uid, key) == ("bizbus", 3, KEY)
        result = self.execute(model, method, args, kwargs)
        return httpx.Response(200, json={"jsonrpc": "2.0", "id": body["id"], "result": result})

    def connector(self, **values: Any) -> OdooConnector:
        return OdooConnector(settings(**values), transport=httpx.MockTransport(self.handler))

    def writes(self) -> list[tuple[str, str]]:
        reads = {"search", "search_read", "read", "search_count"}
        return [call for call in self.calls if call[1] not in reads]
