"""Odoo 17 automation rules that "Send Webhook Notification", set up as an admin script would.

The script finds the model in `ir.model` and the fields in `ir.model.fields`, then creates a
`base.automation` with an `ir.actions.server` (state 'webhook') through `execute_kw`. A local
receiver (a real socket) gets the body Odoo's `_run_action_webhook` sends after each commit.
"""

import json
import queue
import threading
import uuid
import xmlrpc.client
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from bizbus.deploy.sandbox.registry import SYSTEMS

CREDS = SYSTEMS["erp"].credentials
DB, USER, PASSWORD = CREDS["db"], CREDS["login"], CREDS["password"]
WAIT_S = 10.0


class Receiver:
    """A local HTTP server keeping every POST it gets (path, content type, body)."""

    def __init__(self) -> None:
        self.posts: queue.Queue[tuple[str, str, bytes]] = queue.Queue()
        posts = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                posts.put((self.path, self.headers.get("Content-Type", ""), body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def next(self) -> tuple[str, str, dict[str, Any]]:
        path, kind, body = self.posts.get(timeout=WAIT_S)
        return path, kind, json.loads(body)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def odoo(erp_url: str) -> Iterator[Any]:
    with xmlrpc.client.ServerProxy(f"{erp_url}/xmlrpc/2/object") as proxy:

        def call(model: str, method: str, *args: Any, **kwargs: Any) -> Any:
            return proxy.execute_kw(DB, 2, PASSWORD, model, method, list(args), kwargs)

        yield call


def add_rule(odoo: Any, model: str, url: str, fields: list[str], **extra: Any) -> tuple[int, int]:
    """Create a webhook automation rule the way an admin script does; return (rule, action)."""
    [model_id] = odoo("ir.model", "search", [("model", "=", model)])
    field_ids = odoo("ir.model.fields", "search", [("model", "=", model), ("name", "in", fields)])
    rule = odoo("base.automation", "create", {
        "name": f"bizbus hint {model}", "model_id": model_id, "trigger": "on_create_or_write",
        "action_server_ids": [(0, 0, {
            "name": "Notify bizbus", "model_id": model_id, "state": "webhook",
            "webhook_url": url, "webhook_field_ids": [(6, 0, field_ids)],
        })],
        **extra,
    })  # fmt: skip
    [action] = odoo("base.automation", "read", [rule], ["action_server_ids"])[0][
        "action_server_ids"
    ]
    return rule, action


def test_rule_posts_odoos_body_after_create_and_write(odoo: Any, receiver: Receiver) -> None:
    rule, action = add_rule(odoo, "res.partner", f"{receiver.url}/hook/x", ["name", "ref"])
    try:
        stored = odoo("ir.actions.server", "read", [action], ["state", "usage", "model_name"])[0]
        assert stored["state"] == "webhook" and stored["usage"] == "base_automation"
        assert stored["model_name"] == "res.partner"
        ref = f"W{uuid.uuid4().hex[:8]}"
        partner = odoo("res.partner", "create", {"name": "钩子测试", "ref": ref})
        path, kind, body = receiver.next()
        assert path == "/hook/x" and kind == "application/json"
        assert body == {
            "_action": f"Notify bizbus(#{action})", "_id": partner, "_model": "res.partner",
            "id": partner, "name": "钩子测试", "ref": ref,
        }  # fmt: skip
        odoo("res.partner", "write", [partner], {"name": "钩子测试二"})
        assert receiver.next()[2]["name"] == "钩子测试二"
        # A call that fails after a first create rolls back and posts nothing.
        with pytest.raises(xmlrpc.client.Fault):
            odoo("res.partner", "create", [{"name": "rolled back"}, {"no_such": 1}])
        odoo("res.partner", "write", [partner], {"comment": "after the rollback"})
        assert receiver.next()[2]["name"] == "钩子测试二"
    finally:
        odoo("base.automation", "write", [rule], {"active": False})
    assert receiver.posts.empty()


def test_a_receiver_that_is_down_never_fails_the_write(odoo: Any) -> None:
    rule, _ = add_rule(odoo, "res.partner", "http://127.0.0.1:9/down", [])
    try:
        partner = odoo("res.partner", "create", {"name": "无人接收"})
        odoo("res.partner", "write", [partner], {"name": "仍然保存"})
        assert odoo("res.partner", "read", [partner], ["name"])[0]["name"] == "仍然保存"
    finally:
        odoo("base.automation", "write", [rule], {"active": False})


def test_filter_domain_and_trigger_fields_narrow_the_rule(odoo: Any, receiver: Receiver) -> None:
    [name_field] = odoo(
        "ir.model.fields", "search", [("model", "=", "res.partner"), ("name", "=", "comment")]
    )
    rule, _ = add_rule(
        odoo, "res.partner", f"{receiver.url}/narrow", [],
        filter_domain="[('is_company', '=', True)]", trigger_field_ids=[(6, 0, [name_field])],
    )  # fmt: skip
    try:
        person = odoo("res.partner", "create", {"name": "个人", "is_company": False})
        company = odoo("res.partner", "create", {"name": "公司", "is_company": True})
        assert receiver.next()[2]["_id"] == company  # created: trigger fields do not apply
        odoo("res.partner", "write", [company], {"phone": "123"})  # not a trigger field
        odoo("res.partner", "write", [person], {"comment": "x"})  # filtered out
        odoo("res.partner", "write", [company], {"comment": "y"})
        assert receiver.next()[2] == {
            "_action": receiver_action(odoo, rule),
            "_id": company,
            "_model": "res.partner",
        }
    finally:
        odoo("base.automation", "write", [rule], {"active": False})
    assert receiver.posts.empty()


def receiver_action(odoo: Any, rule: int) -> str:
    [action] = odoo("base.automation", "read", [rule], ["action_server_ids"])[0][
        "action_server_ids"
    ]
    return f"Notify bizbus(#{action})"


def test_a_recompute_counts_as_a_write(odoo: Any, receiver: Receiver) -> None:
    """A new line recomputes its order's amounts: Odoo runs the order's on-write rules then."""
    rule, _ = add_rule(odoo, "sale.order", f"{receiver.url}/orders", ["amount_total"])
    try:
        [partner] = odoo("res.partner", "search", [("ref", "=", "C10001")])
        order = odoo("sale.order", "create", {"partner_id": partner})
        [product] = odoo("product.product", "search", [("default_code", "=", "HL-BS-40")])
        odoo("sale.order.line", "create", {"order_id": order, "product_id": product})
        # The create's own computes post too (as in Odoo); then the line's recompute does.
        bodies = [receiver.next()[2]]
        while bodies[-1]["amount_total"] == 0:
            bodies.append(receiver.next()[2])
        assert {body["_id"] for body in bodies} == {order} and len(bodies) >= 2
    finally:
        odoo("base.automation", "write", [rule], {"active": False})
