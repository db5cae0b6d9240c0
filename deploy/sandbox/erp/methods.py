"""Model methods callable over the external API, with Odoo 17 signatures.

`call(env, model, method, args, kwargs)` maps positional `execute_kw` arguments onto the
parameter names (record methods take `ids` first), so JSON-2's named arguments use the same table.
"""

from collections.abc import Callable
from typing import Any

from bizbus.deploy.sandbox.erp.engine import FulfilmentEngine
from bizbus.deploy.sandbox.erp.errors import AccessError, InvalidCall, UserError
from bizbus.deploy.sandbox.erp.models import MODELS
from bizbus.deploy.sandbox.erp.orm import Env

__all__ = ["METHODS", "call"]

Impl = Callable[..., Any]
_OPERATIONS = ("read", "write", "create", "unlink")


def _ids(value: Any) -> list[int]:
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, int):
        return [value]
    return [int(v) for v in value]


def _search(
    env: Env,
    model: str,
    domain: Any = None,
    offset: int = 0,
    limit: Any = None,
    order: Any = None,
    count: bool = False,
) -> Any:
    active = env.context.get("active_test", True)
    if count:
        return env.search_count(model, domain, active_test=active)
    return env.search(
        model, domain, offset=offset, limit=limit or None, order=order or None, active_test=active
    )


def _search_read(
    env: Env,
    model: str,
    domain: Any = None,
    fields: Any = None,
    offset: int = 0,
    limit: Any = None,
    order: Any = None,
    load: str = "_classic_read",
) -> Any:
    ids = _search(env, model, domain, offset, limit, order)
    return env.read(model, ids, fields or None, load=load) if ids else []


def _search_count(env: Env, model: str, domain: Any = None, limit: Any = None) -> int:
    count = env.search_count(model, domain, active_test=env.context.get("active_test", True))
    return min(count, int(limit)) if limit else count


def _read(
    env: Env, model: str, ids: list[int], fields: Any = None, load: Any = "_classic_read"
) -> Any:
    return env.read(model, ids, fields or None, load=load) if ids else []


def _create(env: Env, model: str, vals_list: Any = None) -> Any:
    if isinstance(vals_list, dict):
        return env.create(model, vals_list)
    if not isinstance(vals_list, list) or not all(isinstance(v, dict) for v in vals_list):
        raise InvalidCall("create() expects a dict or a list of dicts", name="builtins.TypeError")
    return [env.create(model, vals) for vals in vals_list]


def _write(env: Env, model: str, ids: list[int], vals: Any = None) -> bool:
    if not isinstance(vals, dict):
        raise InvalidCall("write() expects a dict of values", name="builtins.TypeError")
    if ids:
        env.write(model, ids, vals)
    return True


def _unlink(env: Env, model: str, ids: list[int]) -> bool:
    if ids:
        env.unlink(model, ids)
    return True


def _fields_get(env: Env, model: str, allfields: Any = None, attributes: Any = None) -> Any:
    out = {}
    for name, fld in env.all_fields(model).items():
        if allfields and name not in allfields:
            continue
        desc: dict[str, Any] = {
            "type": fld.type,
            "string": fld.string,
            "required": fld.required,
            "readonly": fld.readonly or name == "id",
            "store": fld.stored,
            "help": fld.help,
            "searchable": True,
            "sortable": fld.type != "one2many",
            "name": name,
        }
        if fld.relation:
            desc["relation"] = fld.relation
        if fld.inverse:
            desc["relation_field"] = fld.inverse
        if fld.selection:
            desc["selection"] = [list(pair) for pair in fld.selection]
        out[name] = {k: v for k, v in desc.items() if not attributes or k in attributes}
    return out


def _default_get(env: Env, model: str, fields_list: Any = None) -> Any:
    return {
        name: fld.default
        for name, fld in env.all_fields(model).items()
        if fld.default is not None and (not fields_list or name in fields_list)
    }


def _name_search(
    env: Env,
    model: str,
    name: str = "",
    args: Any = None,
    operator: str = "ilike",
    limit: int = 100,
) -> Any:
    domain = list(args or [])
    if name:
        domain.append(("display_name", operator, name))
    return _name_get(env, model, env.search(model, domain, limit=limit))


def _name_get(env: Env, model: str, ids: list[int]) -> Any:
    return [[rid, env.display_name(model, rid)] for rid in env.exists(model, ids)]


def _check_access_rights(
    env: Env, model: str, operation: str = "read", raise_exception: bool = True
) -> bool:
    if operation not in _OPERATIONS:
        raise InvalidCall(f"Invalid access mode {operation!r}")
    return True


def _check_access_rule(env: Env, model: str, ids: list[int], operation: str = "read") -> None:
    _check_access_rights(env, model, operation)


def _context_get(env: Env, model: str) -> Any:
    user = env.read("res.users", [env.uid], ["lang", "tz"])[0]
    return {"lang": user["lang"], "tz": user["tz"], "uid": env.uid}


def _engine(env: Env) -> FulfilmentEngine:
    engine = env.context.get("engine")
    return engine if isinstance(engine, FulfilmentEngine) else FulfilmentEngine()


def _action_confirm(env: Env, model: str, ids: list[int]) -> bool:
    _engine(env).confirm(env, ids)
    return True


def _action_cancel(env: Env, model: str, ids: list[int]) -> bool:
    _engine(env).cancel(env, ids)
    return True


def _action_draft(env: Env, model: str, ids: list[int]) -> bool:
    for order in env.read(model, ids, ["state"]):
        if order["state"] != "cancel":
            raise UserError("Only cancelled orders can be set back to quotation.")
    env.write(model, ids, {"state": "draft"})
    env.log("action_draft", model, ids, {"state": "draft"})
    return True


def _apply_inventory(env: Env, model: str, ids: list[int]) -> bool:
    """`stock.quant.action_apply_inventory`: the counted quantity becomes the quantity."""
    for quant in env.read("stock.quant", ids, ["quantity", "inventory_quantity"]):
        counted = float(quant["inventory_quantity"] or 0.0)
        env.write("stock.quant", [quant["id"]], {"quantity": counted, "inventory_quantity": 0.0})
        env.log("action_apply_inventory", model, [quant["id"]], {"quantity": counted})
    return True


def _leave_action(target: str, allowed: tuple[str, ...], verb: str) -> Impl:
    def action(env: Env, model: str, ids: list[int]) -> bool:
        for leave in env.read(model, ids, ["state"]):
            if leave["state"] not in allowed:
                raise UserError(
                    f"Time off request must be in {' or '.join(allowed)} state to {verb} it."
                )
        env.write(model, ids, {"state": target})
        env.log(f"action_{verb}", model, ids, {"state": target})
        return True

    return action


# name → (record method?, parameter names after ids, implementation, models it is limited to)
METHODS: dict[str, tuple[bool, tuple[str, ...], Impl, tuple[str, ...]]] = {
    "search": (False, ("domain", "offset", "limit", "order", "count"), _search, ()),
    "search_read": (
        False,
        ("domain", "fields", "offset", "limit", "order", "load"),
        _search_read,
        (),
    ),
    "search_count": (False, ("domain", "limit"), _search_count, ()),
    "read": (True, ("fields", "load"), _read, ()),
    "create": (False, ("vals_list",), _create, ()),
    "write": (True, ("vals",), _write, ()),
    "unlink": (True, (), _unlink, ()),
    "fields_get": (False, ("allfields", "attributes"), _fields_get, ()),
    "default_get": (False, ("fields_list",), _default_get, ()),
    "name_search": (False, ("name", "args", "operator", "limit"), _name_search, ()),
    "name_get": (True, (), _name_get, ()),
    "exists": (True, (), lambda env, model, ids: env.exists(model, ids), ()),
    "check_access_rights": (False, ("operation", "raise_exception"), _check_access_rights, ()),
    "check_access_rule": (True, ("operation",), _check_access_rule, ()),
    "context_get": (False, (), _context_get, ("res.users",)),
    "action_confirm": (True, (), _action_confirm, ("sale.order",)),
    "action_cancel": (True, (), _action_cancel, ("sale.order",)),
    "action_draft": (True, (), _action_draft, ("sale.order",)),
    "action_apply_inventory": (True, (), _apply_inventory, ("stock.quant",)),
    "action_approve": (True, (), _leave_action("validate", ("confirm",), "approve"), ("hr.leave",)),
    "action_validate": (
        True,
        (),
        _leave_action("validate", ("confirm", "validate1"), "validate"),
        ("hr.leave",),
    ),
    "action_refuse": (
        True,
        (),
        _leave_action("refuse", ("confirm", "validate1", "validate"), "refuse"),
        ("hr.leave",),
    ),
    "action_confirm_leave": (
        True,
        (),
        _leave_action("confirm", ("draft",), "confirm"),
        ("hr.leave",),
    ),
}


def call(
    env: Env,
    model: str,
    method: str,
    args: list[Any] | None = None,
    kwargs: dict[str, Any] | None = None,
) -> Any:
    """Run `model.method(*args, **kwargs)` as Odoo's `execute_kw` would."""
    if not isinstance(model, str) or model not in MODELS:
        raise InvalidCall(f"Object {model} doesn't exist", name="builtins.KeyError", status=404)
    if not isinstance(method, str) or method.startswith("_"):
        raise AccessError(f"Private methods (such as {method}) cannot be called remotely.")
    if method == "action_confirm" and model == "hr.leave":
        method = "action_confirm_leave"
    spec = METHODS.get(method)
    if spec is None or (spec[3] and model not in spec[3]):
        raise InvalidCall(
            f"The method '{model}.{method}' does not exist",
            name="builtins.AttributeError",
            status=404,
        )
    is_record, params, impl, _models = spec
    args, kwargs = list(args or []), dict(kwargs or {})
    context = kwargs.pop("context", None) or {}
    if isinstance(context, dict) and "active_test" in context:
        env.context["active_test"] = bool(context["active_test"])
    names = ("ids", *params) if is_record else params
    if len(args) > len(names):
        raise InvalidCall(
            f"{method}() takes {len(names)} arguments but {len(args)} were given",
            name="builtins.TypeError",
        )
    bound = dict(zip(names, args, strict=False))
    for key, value in kwargs.items():
        if key not in names or key in bound:
            raise InvalidCall(
                f"{method}() got an unexpected keyword argument {key!r}", name="builtins.TypeError"
            )
        bound[key] = value
    if is_record:
        bound["ids"] = _ids(bound.get("ids"))
    return impl(env, model, **bound)
