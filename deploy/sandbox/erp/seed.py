"""Seed data: 苏州恒力精密机械有限公司 (``deploy.sandbox.company``), a machine-tool maker in CNY.

Users (uid: login / password / API key): 1 `__system__` (OdooBot, runs the engine, cannot log
in), 2 `admin` / `admin` / `sandbox-odoo-api-key`, 3 `bizbus` / `bizbus` /
`sandbox-odoo-bizbus-key` (the integration user), 4-6 the salespeople E1001-E1003 (no login).
Products, customers, departments and employees are the company's master data.
"""

from typing import Any

from bizbus.deploy.sandbox.company import (
    COMPANY,
    CUSTOMERS,
    DEPARTMENTS,
    EMAIL_DOMAIN,
    EMPLOYEES,
    PRODUCTS,
    salespeople,
)
from bizbus.deploy.sandbox.erp.orm import Env
from bizbus.deploy.sandbox.erp.rules import PUBLIC_PRICELIST

__all__ = ["BUSINESS_TRIP", "COMPANY", "DB_NAME", "SALES_UIDS", "USERS", "seed"]

DB_NAME = "bizbus"
BUSINESS_TRIP = "出差 / Business Trip"
_FIRST_SALES_UID = 4
# employee number of each salesperson → their res.users id
SALES_UIDS: dict[str, int] = {
    person.number: uid for uid, person in enumerate(salespeople(), start=_FIRST_SALES_UID)
}
# uid, login, password, api key, name
USERS: list[tuple[int, str, str | None, str | None, str]] = [
    (1, "__system__", None, None, "OdooBot"),
    (2, "admin", "admin", "sandbox-odoo-api-key", "系统管理员 (Administrator)"),
    (3, "bizbus", "bizbus", "sandbox-odoo-bizbus-key", "bizbus 集成用户"),
    *((SALES_UIDS[person.number], person.login, None, None, person.name)
      for person in salespeople()),
]  # fmt: skip
_AUTH_DDL = (
    "CREATE TABLE IF NOT EXISTS _erp_auth "
    "(uid INTEGER PRIMARY KEY, login TEXT UNIQUE NOT NULL, password TEXT, api_key TEXT)"
)


def authenticate_rows(env: Env) -> list[dict[str, Any]]:
    """Return the login table (uid, login, password, api_key)."""
    return env.store.query("SELECT uid, login, password, api_key FROM _erp_auth")


def seed(env: Env) -> None:
    """Fill an empty database; a no-op when users already exist."""
    env.store.db.execute(_AUTH_DDL)
    if env.store.query("SELECT uid FROM _erp_auth LIMIT 1"):
        return
    cny = env.create("res.currency", {"name": "CNY", "symbol": "¥"})
    china = env.create("res.country", {"name": "中国 (China)", "code": "CN"})
    env.create("res.currency", {"name": "USD", "symbol": "$"})
    company = env.create("res.partner", {"name": COMPANY, "is_company": True, "city": "苏州",
                                         "street": "工业园区星湖街 328 号"})  # fmt: skip
    for uid, login, password, api_key, name in USERS:
        partner = env.create("res.partner", {"name": name, "parent_id": company,
                                             "email": f"{login}@{EMAIL_DOMAIN}"})  # fmt: skip
        env.store.db.execute(
            "INSERT INTO res_users (id, name, login, partner_id, email, tz, lang, active, share, "
            "create_date, write_date, create_uid, write_uid) VALUES (?,?,?,?,?,?,?,?,?,?,?,1,1)",
            (uid, name, login, partner, f"{login}@{EMAIL_DOMAIN}", "Asia/Shanghai", "zh_CN",
             1 if uid != 1 else 0, 0, env.now(), env.now()),
        )  # fmt: skip
        env.store.db.execute(
            "INSERT INTO _erp_auth (uid, login, password, api_key) VALUES (?, ?, ?, ?)",
            (uid, login, password, api_key),
        )
    for row in CUSTOMERS:
        env.create("res.partner", {
            "name": row.name, "ref": row.number, "is_company": True, "city": row.city,
            "street": row.street, "vat": row.vat, "user_id": SALES_UIDS[row.salesperson],
            "customer_rank": 1, "country_id": china, "phone": row.phone,
            "email": f"purchase@{row.number.lower()}.example.cn",
        })  # fmt: skip
    env.create("product.pricelist", {"name": PUBLIC_PRICELIST, "currency_id": cny})
    env.create("stock.location", {"name": "WH", "complete_name": "WH", "usage": "view"})
    stock = env.create("stock.location", {"name": "Stock", "complete_name": "WH/Stock"})
    env.create("stock.location", {"name": "Customers", "complete_name": "Partners/Customers",
                                  "usage": "customer"})  # fmt: skip
    env.create("stock.location", {"name": "Production",
                                  "complete_name": "Virtual Locations/Production",
                                  "usage": "production"})  # fmt: skip
    for model in PRODUCTS:
        price = float(model.list_price)
        template = env.create("product.template", {
            "name": model.name, "default_code": model.code, "list_price": price,
            "type": model.kind, "detailed_type": model.kind,
            "x_model_revision": model.revision or False, "x_manufacture": model.manufactured,
            "standard_price": round(price * 0.62, 2), "uom_name": model.uom,
            "description_sale": model.description or False,
        })  # fmt: skip
        if model.stock:
            variant = env.search("product.product", [("product_tmpl_id", "=", template)])[0]
            env.create("stock.quant", {"product_id": variant, "location_id": stock,
                                       "quantity": float(model.stock)})  # fmt: skip
    departments = {row.name: env.create("hr.department", {"name": row.name})
                   for row in DEPARTMENTS}  # fmt: skip
    staff: dict[str, int] = {}
    for person in EMPLOYEES:
        staff[person.number] = env.create("hr.employee", {
            "name": person.name, "barcode": person.number, "identification_id": person.number,
            "work_email": person.email, "job_title": person.title,
            "department_id": departments[person.department],
            "user_id": SALES_UIDS.get(person.number, False), "mobile_phone": person.mobile,
        })  # fmt: skip
    for person in EMPLOYEES:
        if person.leader is not None:
            env.write("hr.employee", [staff[person.number]], {"parent_id": staff[person.leader]})
    for name, code, time_type in (("带薪年假 / Paid Time Off", "PTO", "leave"),
                                  ("病假 / Sick Time Off", "SICK", "leave"),
                                  (BUSINESS_TRIP, "TRIP", "other")):  # fmt: skip
        env.create("hr.leave.type", {"name": name, "code": code, "time_type": time_type,
                                     "requires_allocation": "no"})  # fmt: skip
    first = CUSTOMERS[0]
    customer = env.search("res.partner", [("ref", "=", first.number)])[0]
    product = env.search("product.product", [("default_code", "=", "HL-SM-7.5")])[0]
    env.create("sale.order", {
        "partner_id": customer, "user_id": SALES_UIDS[first.salesperson],
        "note": "样机报价, 含运费",
        "order_line": [(0, 0, {"product_id": product, "product_uom_qty": 4})],
    })  # fmt: skip
    env.store.db.execute("DELETE FROM _effects")
