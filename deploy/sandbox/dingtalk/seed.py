"""Seed data of the sandbox DingTalk: 苏州恒力精密机械有限公司 (``deploy.sandbox.company``).

Staff carry DingTalk userids, job numbers (工号 = the company's employee numbers), org e-mails,
departments (numeric dept ids) and managers. Two approval forms: 出差申请 (a 出差事由 text and a
行程 detail table: 出发城市, 目的城市, 开始时间, 结束时间, 交通工具) and 采购申请, a form no
bizbus handler reads, and 折扣审批 (components with business aliases bizbus fills).
"""

import sqlite3
from typing import Any

import orjson

from bizbus.deploy.sandbox.company import DEPARTMENTS as COMPANY_DEPARTMENTS
from bizbus.deploy.sandbox.company import EMPLOYEES as STAFF
from bizbus.deploy.sandbox.company import employee
from bizbus.deploy.sandbox.store import SandboxStore

__all__ = [
    "CORP_ID",
    "DDL",
    "DISCOUNT_FORM",
    "DISCOUNT_PROCESS_CODE",
    "PURCHASE_PROCESS_CODE",
    "TRAVEL_FORM",
    "TRAVEL_PROCESS_CODE",
    "seed",
    "userid_of",
]

CORP_ID = "ding5c3f6a8b9d0e1f2a"
TRAVEL_PROCESS_CODE = "PROC-6A3D2C1B-8E7F-4A59-B0C1-D2E3F4A5B6C7"
PURCHASE_PROCESS_CODE = "PROC-1F2E3D4C-5B6A-4978-8695-A4B3C2D1E0F9"
DISCOUNT_PROCESS_CODE = "PROC-9D8C7B6A-5F4E-4D3C-B2A1-0F9E8D7C6B5A"

DDL = """
CREATE TABLE IF NOT EXISTS users (
    userid TEXT PRIMARY KEY, unionid TEXT NOT NULL, name TEXT NOT NULL, job_number TEXT NOT NULL,
    org_email TEXT NOT NULL, mobile TEXT NOT NULL, title TEXT NOT NULL, dept_id INTEGER NOT NULL,
    manager_userid TEXT
);
CREATE TABLE IF NOT EXISTS depts (dept_id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS forms (
    process_code TEXT PRIMARY KEY, name TEXT NOT NULL, components TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (token TEXT PRIMARY KEY, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS instances (
    id TEXT PRIMARY KEY, process_code TEXT NOT NULL, originator TEXT NOT NULL,
    dept_id INTEGER NOT NULL, title TEXT NOT NULL, business_id TEXT NOT NULL,
    status TEXT NOT NULL, result TEXT NOT NULL, form TEXT NOT NULL, create_ms INTEGER NOT NULL,
    finish_ms INTEGER NOT NULL, records TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS instances_by_time ON instances (process_code, create_ms);
CREATE TABLE IF NOT EXISTS tasks (
    task_id INTEGER PRIMARY KEY, instance_id TEXT NOT NULL, userid TEXT NOT NULL,
    status TEXT NOT NULL, result TEXT NOT NULL, activity_id TEXT NOT NULL,
    create_ms INTEGER NOT NULL, finish_ms INTEGER NOT NULL
);
"""

_DEPT_IDS = {row.name: 481_000_000 + n for n, row in enumerate(COMPANY_DEPARTMENTS, 1)}


def userid_of(number: str) -> str:
    """The DingTalk userid of an employee number (E1002 → 0137162302251002)."""
    return f"01371623022{number[1:].zfill(5)}"


# The form components as the form designer defines them: (componentType, label, required).
TRAVEL_FORM: list[dict[str, Any]] = [
    {"componentType": "TextareaField", "id": "TextareaField-K2AD4O5B", "name": "出差事由",
     "required": True},
    {"componentType": "TableField", "id": "TableField-J8ZJV5S8", "name": "行程", "required": True,
     "columns": ["出发城市", "目的城市", "开始时间", "结束时间", "交通工具"]},
]  # fmt: skip
# bizbus files these: each component's business alias (bizAlias) is the key bizbus fills.
DISCOUNT_FORM: list[dict[str, Any]] = [
    {"componentType": "TextField", "id": f"TextField-D{n}", "name": name, "bizAlias": alias,
     "required": True}
    for n, (name, alias) in enumerate([
        ("订单号", "order"), ("客户", "customer"), ("销售员", "salesperson"), ("折扣权限", "limit"),
        ("明细", "lines"), ("CRM订单", "crm_order_id"), ("明细指纹", "fingerprint"),
    ])
]  # fmt: skip
PURCHASE_FORM: list[dict[str, Any]] = [
    {"componentType": "TextField", "id": "TextField-1", "name": "采购物品", "required": True},
    {"componentType": "MoneyField", "id": "MoneyField-2", "name": "金额", "required": True},
    {"componentType": "TextareaField", "id": "TextareaField-3", "name": "采购事由",
     "required": True},
]  # fmt: skip


def seed(store: SandboxStore, *, with_data: bool) -> None:
    """Create the tables and, when ``with_data``, the company's staff and the two forms."""
    store.db.executescript(DDL)
    if not with_data:
        return
    with store.transaction() as db:
        if not store.query("SELECT 1 FROM users LIMIT 1"):
            _insert(db)
        db.execute(
            "INSERT OR IGNORE INTO forms VALUES (?, ?, ?)",
            (DISCOUNT_PROCESS_CODE, "折扣审批", orjson.dumps(DISCOUNT_FORM).decode()),
        )


def _insert(db: sqlite3.Connection) -> None:
    db.executemany("INSERT INTO depts VALUES (?, ?)", [(i, n) for n, i in _DEPT_IDS.items()])
    db.executemany(
        "INSERT INTO users VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (userid_of(p.number), f"iPiS{p.oa_user_id}iE", p.name, p.number, p.email, p.mobile,
             p.title, _DEPT_IDS[p.department],
             userid_of(employee(p.leader).number) if p.leader else None)
            for p in STAFF
        ],
    )  # fmt: skip
    db.executemany(
        "INSERT INTO forms VALUES (?, ?, ?)",
        [
            (TRAVEL_PROCESS_CODE, "出差申请", orjson.dumps(TRAVEL_FORM).decode()),
            (PURCHASE_PROCESS_CODE, "采购申请", orjson.dumps(PURCHASE_FORM).decode()),
        ],
    )
