"""Seed data: 苏州恒力精密机械有限公司, a machine-tool maker selling in CNY.

Users (uid: login / password / API key): 1 `__system__` (OdooBot, runs the engine, cannot log
in), 2 `admin` / `admin` / `sandbox-odoo-api-key`, 3 `bizbus` / `bizbus` /
`sandbox-odoo-bizbus-key` (the integration user), 4-6 salespeople (no login).
"""

from typing import Any

from deploy.sandbox.erp.orm import Env
from deploy.sandbox.erp.rules import PUBLIC_PRICELIST

__all__ = ["BUSINESS_TRIP", "COMPANY", "DB_NAME", "USERS", "seed"]

DB_NAME = "bizbus"
COMPANY = "苏州恒力精密机械有限公司"
BUSINESS_TRIP = "出差 / Business Trip"
# uid, login, password, api key, name
USERS: list[tuple[int, str, str | None, str | None, str]] = [
    (1, "__system__", None, None, "OdooBot"),
    (2, "admin", "admin", "sandbox-odoo-api-key", "系统管理员 (Administrator)"),
    (3, "bizbus", "bizbus", "sandbox-odoo-bizbus-key", "bizbus 集成用户"),
    (4, "zhang.wei", None, None, "张伟"),
    (5, "li.na", None, None, "李娜"),
    (6, "wang.fang", None, None, "王芳"),
]
_AUTH_DDL = (
    "CREATE TABLE IF NOT EXISTS _erp_auth "
    "(uid INTEGER PRIMARY KEY, login TEXT UNIQUE NOT NULL, password TEXT, api_key TEXT)"
)
# ref, name, city, street, unified social credit code (VAT), salesperson uid
_CUSTOMERS = [
    ("C10001", "上海电气自动化设备有限公司", "上海", "浦东新区张江路 1388 号",
     "91310115MA1H7QXX1K", 4),
    ("C10002", "宁波海天塑机配件有限公司", "宁波", "北仑区大港五路 88 号",
     "91330206MA2GQ1XX2L", 4),
    ("C10003", "深圳市华南精工科技有限公司", "深圳", "宝安区西乡街道固戍二路 12 号",
     "91440300MA5F8PXX3M", 5),
    ("C10004", "重庆长江汽车零部件有限公司", "重庆", "两江新区金渝大道 68 号",
     "91500000MA60YKXX4N", 5),
    ("C10005", "北京京北智能装备有限公司", "北京", "亦庄经济技术开发区科创十三街 5 号",
     "91110302MA01RBXX5P", 6),
    ("C10006", "成都蜀都数控刀具有限公司", "成都", "高新区天府大道中段 666 号",
     "91510100MA6C9LXX6Q", 6),
]  # fmt: skip
# default_code, name, list price (CNY), revision, manufactured, type, stock
_PRODUCTS: list[tuple[str, str, float, str | None, bool, str, float]] = [
    ("HL-VMC850", "HL-VMC850 立式加工中心", 268000.0, "C", True, "product", 2),
    ("HL-CK6150", "HL-CK6150 数控车床", 128000.0, "B", True, "product", 3),
    ("HL-LC3015", "HL-LC3015 光纤激光切割机", 356000.0, "A", True, "product", 0),
    ("HL-HP100", "HL-HP100 四柱液压机", 86500.0, "B", True, "product", 1),
    ("HL-SM-7.5", "HL-SM-7.5 伺服电机 7.5kW", 6800.0, "A", False, "product", 40),
    ("HL-BS-40", "HL-BS-40 滚珠丝杠 Φ40", 2350.0, "D", False, "product", 120),
    ("HL-SVC-INST", "设备安装调试服务 (人天)", 1800.0, None, False, "service", 0),
]
_DEPARTMENTS = ["销售部", "生产部", "财务部", "人力资源部"]
# barcode, name, email, job title, department index, user id
_EMPLOYEES = [
    ("E1001", "张伟", "zhang.wei", "销售经理", 0, 4),
    ("E1002", "李娜", "li.na", "销售代表", 0, 5),
    ("E1003", "王芳", "wang.fang", "销售代表", 0, 6),
    ("E1004", "刘洋", "liu.yang", "生产主管", 1, None),
    ("E1005", "陈静", "chen.jing", "计划员", 1, None),
    ("E1006", "杨磊", "yang.lei", "会计", 2, None),
    ("E1007", "赵敏", "zhao.min", "HR 专员", 3, None),
    ("E1008", "黄强", "huang.qiang", "售后工程师", 1, None),
]


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
                                             "email": f"{login}@hengli-demo.cn"})  # fmt: skip
        env.store.db.execute(
            "INSERT INTO res_users (id, name, login, partner_id, email, tz, lang, active, share, "
            "create_date, write_date, create_uid, write_uid) VALUES (?,?,?,?,?,?,?,?,?,?,?,1,1)",
            (uid, name, login, partner, f"{login}@hengli-demo.cn", "Asia/Shanghai", "zh_CN",
             1 if uid != 1 else 0, 0, env.now(), env.now()),
        )  # fmt: skip
        env.store.db.execute(
            "INSERT INTO _erp_auth (uid, login, password, api_key) VALUES (?, ?, ?, ?)",
            (uid, login, password, api_key),
        )
    for ref, name, city, street, vat, user in _CUSTOMERS:
        env.create("res.partner", {
            "name": name, "ref": ref, "is_company": True, "city": city, "street": street,
            "vat": vat, "user_id": user, "customer_rank": 1, "country_id": china,
            "email": f"purchase@{ref.lower()}.example.cn", "phone": "+86 21 5888 0000",
        })  # fmt: skip
    env.create("product.pricelist", {"name": PUBLIC_PRICELIST, "currency_id": cny})
    env.create("stock.location", {"name": "WH", "complete_name": "WH", "usage": "view"})
    stock = env.create("stock.location", {"name": "Stock", "complete_name": "WH/Stock"})
    env.create("stock.location", {"name": "Customers", "complete_name": "Partners/Customers",
                                  "usage": "customer"})  # fmt: skip
    env.create("stock.location", {"name": "Production",
                                  "complete_name": "Virtual Locations/Production",
                                  "usage": "production"})  # fmt: skip
    for code, name, price, revision, made, kind, qty in _PRODUCTS:
        template = env.create("product.template", {
            "name": name, "default_code": code, "list_price": price, "type": kind,
            "detailed_type": kind, "x_model_revision": revision or False, "x_manufacture": made,
            "standard_price": round(price * 0.62, 2), "uom_name": "台" if made else "件",
        })  # fmt: skip
        if qty:
            variant = env.search("product.product", [("product_tmpl_id", "=", template)])[0]
            env.create(
                "stock.quant", {"product_id": variant, "location_id": stock, "quantity": qty}
            )
    departments = [env.create("hr.department", {"name": name}) for name in _DEPARTMENTS]
    for barcode, name, login, title, dept, user_id in _EMPLOYEES:
        env.create("hr.employee", {
            "name": name, "barcode": barcode, "identification_id": barcode,
            "work_email": f"{login}@hengli-demo.cn", "job_title": title,
            "department_id": departments[dept], "user_id": user_id or False,
            "mobile_phone": f"+86 139 1234 {barcode[-4:]}",
        })  # fmt: skip
    for name, code, time_type in (("带薪年假 / Paid Time Off", "PTO", "leave"),
                                  ("病假 / Sick Time Off", "SICK", "leave"),
                                  (BUSINESS_TRIP, "TRIP", "other")):  # fmt: skip
        env.create("hr.leave.type", {"name": name, "code": code, "time_type": time_type,
                                     "requires_allocation": "no"})  # fmt: skip
    customer = env.search("res.partner", [("ref", "=", "C10001")])[0]
    product = env.search("product.product", [("default_code", "=", "HL-SM-7.5")])[0]
    env.create("sale.order", {
        "partner_id": customer, "user_id": 4, "note": "样机报价, 含运费",
        "order_line": [(0, 0, {"product_id": product, "product_uom_qty": 4})],
    })  # fmt: skip
    env.store.db.execute("DELETE FROM _effects")
