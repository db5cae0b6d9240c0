"""Automation rules that "Send Webhook Notification", as Odoo 17's base_automation does.

An admin script finds the model's id in `ir.model`, then creates a `base.automation` (trigger
`on_create_or_write`, `on_create` or `on_write`, optional `filter_domain` and
`trigger_field_ids`) whose `action_server_ids` hold an `ir.actions.server` with `state
'webhook'`, a `webhook_url` and optional `webhook_field_ids`. After each matching create/write
(a recompute of stored values counts as a write, as in Odoo)
the action's body is built as Odoo's `_run_action_webhook` builds it, inside the write:
`{"_action": "<name>(#<id>)", "_id": <id>, "_model": "<model>"}` plus the selected fields read
with `load=None`, `json.dumps(sort_keys=True, default=str)`. It is posted only once the
transaction committed (a rolled-back write posts nothing), by one background sender in order,
with Odoo's 1 s timeout; a receiver that is down or answers an error is logged, never fails
the write. Odoo signs nothing: the URL is the only secret.
"""

# ruff: noqa: S608 - table and column names come from the model registry; values are bound

import ast
import json
import logging
import queue
import threading
import urllib.error
import urllib.request
from typing import Any

from bizbus.deploy.sandbox.erp.errors import ValidationError
from bizbus.deploy.sandbox.erp.models import MAGIC, MODELS, table_of
from bizbus.deploy.sandbox.erp.orm import Env

__all__ = ["METADATA", "TIMEOUT_S", "WebhookSender", "install", "seed_metadata"]

log = logging.getLogger("bizbus.sandbox.erp.webhooks")
TIMEOUT_S = 1.0  # Odoo's `requests.post(..., timeout=1)`
METADATA = frozenset({"ir.model", "ir.model.fields", "base.automation", "ir.actions.server"})
_TRIGGERS = {True: ("on_create_or_write", "on_create"), False: ("on_create_or_write", "on_write")}


class WebhookSender:
    """Posts webhook bodies in order from one daemon thread; failures are only logged."""

    def __init__(self) -> None:
        self.sent = 0  # bodies a receiver answered 2xx
        self.failed = 0  # bodies refused, timed out or not delivered
        self._queue: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self._thread: threading.Thread | None = None

    def send(self, url: str, body: bytes) -> None:
        """Queue one POST (returns at once)."""
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="erp-webhooks", daemon=True)
            self._thread.start()
        self._queue.put((url, body))

    def _run(self) -> None:
        while True:
            url, body = self._queue.get()
            request = urllib.request.Request(  # noqa: S310 - the admin's configured URL
                url, data=body, method="POST", headers={"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310
                    response.read()
                self.sent += 1
            except (urllib.error.URLError, TimeoutError, OSError) as error:
                self.failed += 1
                log.warning("Webhook call failed: %s", type(error).__name__)


def seed_metadata(env: Env) -> None:
    """Fill `ir.model` and `ir.model.fields` from the model registry (not logged as effects)."""
    db, now = env.store.db, env.now()
    if db.execute(f"SELECT COUNT(*) FROM {table_of('ir.model')}").fetchone()[0]:
        return  # a database file kept from an earlier run
    for model in MODELS.values():
        cur = db.execute(
            f"INSERT INTO {table_of('ir.model')} (name, model, create_date, write_date, "
            "create_uid, write_uid) VALUES (?, ?, ?, ?, 1, 1)",
            [model.description, model.name, now, now],
        )
        model_id = int(cur.lastrowid or 0)
        for name, fld in {**MAGIC, **model.fields}.items():
            db.execute(
                f"INSERT INTO {table_of('ir.model.fields')} (name, field_description, model, "
                "model_id, ttype, create_date, write_date, create_uid, write_uid) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 1, 1)",
                [name, fld.string, model.name, model_id, fld.type, now, now],
            )


def _model_of(env: Env, model_id: int) -> str:
    return str(env.read("ir.model", [model_id], ["model"])[0]["model"])


def _stamp_model_name(
    env: Env, model: str, ids: list[int], vals: dict[str, Any], created: bool
) -> None:
    """Keep `model_name` (Odoo: related to model_id.model) and check an action's model."""
    if "model_id" not in vals:
        return
    for row in env.read(model, ids, ["model_id"], load=None):
        name = _model_of(env, row["model_id"])
        env.store.db.execute(
            f"UPDATE {table_of(model)} SET model_name = ? WHERE id = ?", [name, row["id"]]
        )


def _check_action(
    env: Env, model: str, ids: list[int], vals: dict[str, Any], created: bool
) -> None:
    """An automation's actions run on the rule's model (Odoo's constraint), as 'base_automation'."""
    for row in env.read(model, ids, ["model_id", "base_automation_id", "usage"], load=None):
        rule = row["base_automation_id"]
        if not rule:
            continue
        rule_model = env.read("base.automation", [rule], ["model_id"], load=None)[0]["model_id"]
        if rule_model != row["model_id"]:
            raise ValidationError("Model of action must be the same as the automation rule's")
        if row["usage"] != "base_automation":
            env.store.db.execute(
                f"UPDATE {table_of(model)} SET usage = 'base_automation' WHERE id = ?", [row["id"]]
            )


def _rules(env: Env, model: str, created: bool) -> list[dict[str, Any]]:
    triggers = _TRIGGERS[created]
    rows = env.store.query(
        f"SELECT id, trigger_field_ids, filter_domain FROM {table_of('base.automation')} "
        "WHERE model_name = ? AND active = 1 AND trigger IN (?, ?) ORDER BY id",
        [model, *triggers],
    )
    return rows


def _applies(env: Env, model: str, rid: int, rule: dict[str, Any], vals: dict[str, Any]) -> bool:
    fields = json.loads(rule["trigger_field_ids"] or "[]")
    if fields and vals:
        names = {row["name"] for row in env.read("ir.model.fields", fields, ["name"])}
        if not names & set(vals):
            return False
    domain = rule["filter_domain"]
    if domain:
        terms = ast.literal_eval(domain)
        return bool(env.search(model, [("id", "=", rid), *terms], active_test=False))
    return True


def _webhooks(
    env: Env, sender: WebhookSender, model: str, ids: list[int], vals: dict[str, Any], created: bool
) -> None:
    """Queue the webhook bodies of the rules a create/write of `model` triggers."""
    if model in METADATA:
        return
    for rule in _rules(env, model, created):
        actions = env.store.query(
            f"SELECT id, name, webhook_url, webhook_field_ids FROM "
            f"{table_of('ir.actions.server')} WHERE base_automation_id = ? AND state = 'webhook' "
            "ORDER BY sequence, id",
            [rule["id"]],
        )
        for rid in ids:
            if not actions or not _applies(env, model, rid, rule, vals if not created else {}):
                continue
            for action in actions:
                _queue(env, sender, model, rid, action)


def _queue(env: Env, sender: WebhookSender, model: str, rid: int, action: dict[str, Any]) -> None:
    url = action["webhook_url"]
    if not url:
        raise ValidationError(
            f"The webhook action '{action['name']}' has no URL to send the request to."
        )
    body: dict[str, Any] = {
        "_model": model,
        "_id": rid,
        "_action": f"{action['name']}(#{action['id']})",
    }
    fields = json.loads(action["webhook_field_ids"] or "[]")
    if fields:
        names = [row["name"] for row in env.read("ir.model.fields", fields, ["name"])]
        body.update(env.read(model, [rid], names, load=None)[0])
    data = json.dumps(body, sort_keys=True, default=str).encode()
    env.postcommit.append(lambda: sender.send(str(url), data))


def install(env: Env, sender: WebhookSender) -> Env:
    """Attach automation rules (and the metadata's own rules) to an Env and return it."""

    def webhooks(env: Env, model: str, ids: list[int], vals: dict[str, Any], created: bool) -> None:
        _webhooks(env, sender, model, ids, vals, created)

    env.hooks.setdefault("base.automation", []).append(_stamp_model_name)
    env.hooks.setdefault("ir.actions.server", []).extend([_stamp_model_name, _check_action])
    env.watchers.append(webhooks)
    return env
