"""Wire the sandbox ERP to push: webhook automation rules to a worker, and its settings.

What an Odoo admin does once for `BIZBUS_ERP_MODE=push`: for every model bizbus polls, an
automation rule "on save" whose action sends a webhook notification to the worker's
`/webhooks/odoo/<token>`. Created over XML-RPC `execute_kw` as the sandbox's administrator.
"""

import secrets
import xmlrpc.client
from typing import Any

from bizbus.deploy.sandbox.registry import SYSTEMS
from bizbus.flows.catalog.sinks import ERP_PRODUCT
from bizbus.flows.fulfilment.flow import FEEDS as FULFILMENT_FEEDS
from bizbus.flows.shared import ODOO_WEBHOOK_PATH
from bizbus.flows.stock_visibility.flow import QUANT_MODEL

__all__ = ["PUSHED_MODELS", "add_webhook_rules", "new_token", "push_env"]

# The ERP models the flows poll: a hint about any other would make every ERP feed poll.
PUSHED_MODELS = (*FULFILMENT_FEEDS, ERP_PRODUCT, QUANT_MODEL)


def new_token() -> str:
    """Return a fresh webhook URL token (what an operator puts in BIZBUS_ERP_WEBHOOK_TOKEN)."""
    return secrets.token_urlsafe(32)


def push_env(token: str, safety_poll_s: float | None = None) -> dict[str, str]:
    """Return the worker settings of ERP push mode (safety poll: the default when None)."""
    env = {"BIZBUS_ERP_MODE": "push", "BIZBUS_ERP_WEBHOOK_TOKEN": token}
    if safety_poll_s is not None:
        env["BIZBUS_ERP_PUSH_SAFETY_POLL_S"] = str(safety_poll_s)
    return env


def add_webhook_rules(
    erp_url: str, worker_url: str, token: str, models: tuple[str, ...] = PUSHED_MODELS
) -> list[int]:
    """Create one webhook automation rule per model in the sandbox ERP; return their ids."""
    creds = SYSTEMS["erp"].credentials
    db, login, password = creds["db"], creds["login"], creds["password"]
    url = f"{worker_url}{ODOO_WEBHOOK_PATH}/{token}"
    with (
        xmlrpc.client.ServerProxy(f"{erp_url}/xmlrpc/2/common") as common,
        xmlrpc.client.ServerProxy(f"{erp_url}/xmlrpc/2/object") as odoo,
    ):
        uid: Any = common.authenticate(db, login, password, {})
        rules: list[int] = []
        for model in models:
            found: Any = odoo.execute_kw(
                db, uid, password, "ir.model", "search", [[("model", "=", model)]]
            )
            [model_id] = found
            action = {
                "name": "Notify bizbus",
                "model_id": model_id,
                "state": "webhook",
                "webhook_url": url,
            }
            rule = {
                "name": f"bizbus: {model}",
                "model_id": model_id,
                "trigger": "on_create_or_write",
                "action_server_ids": [(0, 0, action)],
            }
            created: Any = odoo.execute_kw(db, uid, password, "base.automation", "create", [rule])
            rules.append(int(created))
    return rules
