"""The RPC services behind every transport, and API-key lookup for JSON-2.

`common` (version, login, authenticate),
`object` (execute, execute_kw) and `db` (list, server_version).

Passwords and API keys are interchangeable, as in Odoo 14+. Each call is one SQLite transaction;
what it queued for after the commit (automation rules' webhooks) runs once it committed.
"""

from collections.abc import Callable
from typing import Any

from bizbus.deploy.sandbox.app import SandboxContext
from bizbus.deploy.sandbox.erp import automation, methods, rules
from bizbus.deploy.sandbox.erp.engine import FulfilmentEngine
from bizbus.deploy.sandbox.erp.errors import AccessDenied, InvalidCall
from bizbus.deploy.sandbox.erp.orm import Env
from bizbus.deploy.sandbox.erp.seed import DB_NAME

__all__ = ["VERSION", "ErpService"]

VERSION: dict[str, Any] = {
    "server_version": "17.0",
    "server_version_info": [17, 0, 0, "final", 0, ""],
    "server_serie": "17.0",
    "protocol_version": 1,
}


class ErpService:
    """Authenticates callers and runs model methods for them."""

    def __init__(self, ctx: SandboxContext, engine: FulfilmentEngine) -> None:
        self.ctx = ctx
        self.engine = engine
        self.webhooks = automation.WebhookSender()

    def env(self, uid: int = 1, login: str = "__system__") -> Env:
        """Return an Env with the business rules and automation rules installed."""
        env = rules.install(Env(self.ctx.store, self.ctx.clock, uid=uid, login=login))
        automation.install(env, self.webhooks)
        env.context["engine"] = self.engine
        return env

    def run(self, env: Env, work: Callable[[Env], Any]) -> Any:
        """Run `work` in one transaction, then what it left for after the commit (webhooks)."""
        with self.ctx.store.transaction():
            result = work(env)
        for action in env.postcommit:
            action()
        env.postcommit.clear()
        return result

    def _check_db(self, db: Any) -> None:
        if db != DB_NAME:
            raise InvalidCall(
                f'FATAL:  database "{db}" does not exist',
                name="psycopg2.OperationalError",
                status=404,
            )

    def login(self, db: Any, login: Any, password: Any) -> int | bool:
        """Return the uid for a login and password (or API key), else False."""
        self._check_db(db)
        for row in self.ctx.store.query("SELECT * FROM _erp_auth WHERE login = ?", [str(login)]):
            if password and password in (row["password"], row["api_key"]):
                return int(row["uid"])
        return False

    def user_for_key(self, api_key: str) -> tuple[int, str]:
        """Return (uid, login) for a JSON-2 bearer API key.

        Raises:
            AccessDenied: when the key is unknown.
        """
        rows = self.ctx.store.query("SELECT uid, login FROM _erp_auth WHERE api_key = ?", [api_key])
        if not api_key or not rows:
            raise AccessDenied("Invalid apikey")
        return int(rows[0]["uid"]), str(rows[0]["login"])

    def check(self, db: Any, uid: Any, password: Any) -> str:
        """Return the login of `uid` if `password` (or an API key) is theirs, else AccessDenied."""
        self._check_db(db)
        rows = self.ctx.store.query("SELECT * FROM _erp_auth WHERE uid = ?", [uid])
        if not rows or not password or password not in (rows[0]["password"], rows[0]["api_key"]):
            raise AccessDenied()
        return str(rows[0]["login"])

    def execute(self, uid: int, login: str, model: Any, method: Any, args: Any, kwargs: Any) -> Any:
        """Run one model method in a transaction as `uid`."""
        if not isinstance(args, list | tuple) or not isinstance(kwargs or {}, dict):
            raise InvalidCall(
                "execute_kw expects a list of args and a dict of kwargs", name="builtins.TypeError"
            )
        return self.run(
            self.env(uid, login),
            lambda env: methods.call(env, model, method, list(args), kwargs or {}),
        )

    def dispatch(self, service: Any, method: Any, args: list[Any]) -> Any:
        """Run `service.method(*args)` as `/xmlrpc/2/<service>` and `/jsonrpc` do."""
        if service == "common":
            if method == "version":
                return VERSION
            if method == "login" and len(args) >= 3:
                return self.login(*args[:3])
            if method == "authenticate" and len(args) >= 3:
                return self.login(*args[:3])
            if method == "about":
                return "See http://openerp.com"
        elif service == "db":
            if method == "list":
                return [DB_NAME]
            if method == "server_version":
                return VERSION["server_version"]
        elif service == "object" and method in ("execute", "execute_kw") and len(args) >= 5:
            db, uid, password, model, name, *rest = args
            login = self.check(db, uid, password)
            if method == "execute":
                return self.execute(uid, login, model, name, rest, {})
            return self.execute(
                uid, login, model, name, rest[0] if rest else [], rest[1] if len(rest) > 1 else {}
            )
        raise InvalidCall(
            f"The method {service}.{method} does not exist or its arguments are wrong",
            name="builtins.NameError",
            status=404,
        )

    async def tick(self) -> None:
        """Run due fulfilment steps (clock hook and real-time loop)."""
        self.run(self.env(), self.engine.run_due)
