"""Seed data of the sandbox OA: 苏州恒力精密机械有限公司 (``deploy.sandbox.company``) on Feishu.

Employees carry Feishu user_id/open_id/union_id, the company's employee numbers (工号), work
e-mails, departments and leaders; one travel approval definition (出差申请) has a trip group
widget and a purpose text widget; a purchase request definition (采购申请) is a form no bizbus
handler reads (item, amount, reason), for the "unclaimed form" path; a discount approval
definition (折扣审批) is what bizbus files for an order priced beyond its salesperson's limit,
and a conflict definition (主数据冲突裁决) what it files for a catalog field both systems edited.
"""

import sqlite3
from typing import Any

import orjson

from bizbus.deploy.sandbox.company import DEPARTMENTS as COMPANY_DEPARTMENTS
from bizbus.deploy.sandbox.company import EMPLOYEES as STAFF
from bizbus.deploy.sandbox.company import employee
from bizbus.deploy.sandbox.store import SandboxStore

__all__ = [
    "APPROVAL_NAME",
    "CONFLICT_APPROVAL_CODE",
    "CONFLICT_FORM",
    "DDL",
    "DEPARTMENTS",
    "DISCOUNT_APPROVAL_CODE",
    "DISCOUNT_FORM",
    "EMPLOYEES",
    "PURCHASE_APPROVAL_CODE",
    "PURCHASE_FORM",
    "TENANT_KEY",
    "TRAVEL_APPROVAL_CODE",
    "TRAVEL_FORM",
    "TRAVEL_NODES",
    "seed",
]

TENANT_KEY = "2ed263bf32cf1651"
TRAVEL_APPROVAL_CODE = "7C468A54-8745-2245-9675-08B7C63E7A85"
APPROVAL_NAME = "出差申请"
PURCHASE_APPROVAL_CODE = "3F9A6C21-5B7E-4D08-9C1A-2E6B8D4F7A10"
PURCHASE_NAME = "采购申请"
DISCOUNT_APPROVAL_CODE = "9B2E7D40-3C61-4F8A-B5D2-6A1C0E8F4B37"
DISCOUNT_NAME = "折扣审批"
CONFLICT_APPROVAL_CODE = "5A0C8E62-7D14-4B39-9E6F-1B2D3C4E5F60"
CONFLICT_NAME = "主数据冲突裁决"

DDL = """
CREATE TABLE IF NOT EXISTS departments (
    department_id TEXT PRIMARY KEY, open_department_id TEXT NOT NULL, name TEXT NOT NULL,
    leader_user_id TEXT
);
CREATE TABLE IF NOT EXISTS employees (
    user_id TEXT PRIMARY KEY, open_id TEXT UNIQUE NOT NULL, union_id TEXT NOT NULL,
    name TEXT NOT NULL, en_name TEXT NOT NULL, employee_no TEXT UNIQUE NOT NULL,
    email TEXT NOT NULL, mobile TEXT NOT NULL, department_id TEXT NOT NULL, job_title TEXT NOT NULL,
    leader_user_id TEXT
);
CREATE TABLE IF NOT EXISTS approvals (
    approval_code TEXT PRIMARY KEY, approval_name TEXT NOT NULL, status TEXT NOT NULL,
    form TEXT NOT NULL, node_list TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS subscriptions (
    approval_code TEXT PRIMARY KEY, app_id TEXT NOT NULL, created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    token TEXT PRIMARY KEY, app_id TEXT NOT NULL, expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS instances (
    instance_code TEXT PRIMARY KEY, approval_code TEXT NOT NULL, uuid TEXT UNIQUE NOT NULL,
    request_hash TEXT NOT NULL, user_id TEXT NOT NULL, open_id TEXT NOT NULL,
    department_id TEXT NOT NULL, status TEXT NOT NULL, form TEXT NOT NULL,
    serial_number TEXT NOT NULL, start_time INTEGER NOT NULL, end_time INTEGER NOT NULL,
    timeline TEXT NOT NULL, comment_list TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS instances_by_time ON instances (approval_code, start_time);
CREATE TABLE IF NOT EXISTS tasks (
    id TEXT PRIMARY KEY, instance_code TEXT NOT NULL, user_id TEXT NOT NULL,
    open_id TEXT NOT NULL, status TEXT NOT NULL, node_id TEXT NOT NULL, node_name TEXT NOT NULL,
    custom_node_id TEXT NOT NULL, type TEXT NOT NULL, start_time INTEGER NOT NULL,
    end_time INTEGER NOT NULL
);
"""

# Feishu's per-app ids of each person (open_id) and per-developer ids (union_id), by user_id.
_OPEN_IDS: dict[str, tuple[str, str]] = {
    "5d9bd9a1": ("ou_7dab8a3d3cdcc9da365777c7ad535d62", "on_94a1ee5551019f18cd73d9f111898cf2"),
    "f8ca557e": ("ou_99e1a581b36ecc4862cbfbce473f1234", "on_d4a2c2b3e2f3c7e0b7f6a5d4c3b2a1f0"),
    "3ga5e4d1": ("ou_3cda9c969f737aaa05e6915dce306cb9", "on_8ed6aa67826108097d9ee143816345ab"),
    "b6e0d4a3": ("ou_4b8d2e6f0a1c3e5f7a9b1d3f5a7c9e1b", "on_2c4e6a8b0d1f3a5c7e9b1d3f5a7c9e2d"),
    "7b2c8e4f": ("ou_0c9b8a7f6e5d4c3b2a1908f7e6d5c4b3", "on_5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d"),
    "a7e91c2d": ("ou_550cc75233d8b7b9fcbdad65f34433f4", "on_1f2e3d4c5b6a79808f7e6d5c4b3a2918"),
    "2e4f6a8c": ("ou_6f5e4d3c2b1a09f8e7d6c5b4a3928170", "on_0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c"),
    "c8d1f2a6": ("ou_1a2b3c4d5e6f708192a3b4c5d6e7f809", "on_9f8e7d6c5b4a39281706f5e4d3c2b1a0"),
    "9d3f5b7e": ("ou_8e2a4c6e8a0b2d4f6a8c0e2a4c6e8a0b", "on_7d9f1b3d5f7a9c1e3b5d7f9a1c3e5b7d"),
}
_OPEN_DEPARTMENT_IDS = {
    "D1001": "od-4e6ac4d14bcd5071a37a39de902c7141",
    "D1002": "od-8ec33ffec336c3a39a278bc25e931676",
    "D1003": "od-2f3a9c1b7e6d4a5b8c9d0e1f2a3b4c5d",
    "D1004": "od-a1b2c3d4e5f60718293a4b5c6d7e8f90",
    "D1005": "od-5c7e9a1b3d5f7a9c1e3b5d7f9a1c3e5f",
}
_DEPARTMENT_IDS = {row.name: row.code for row in COMPANY_DEPARTMENTS}

# (department_id, open_department_id, name, leader user_id)
DEPARTMENTS: list[tuple[str, str, str, str]] = [
    (row.code, _OPEN_DEPARTMENT_IDS[row.code], row.name, employee(row.head).oa_user_id)
    for row in COMPANY_DEPARTMENTS
]

# One row per employee; keys match the `employees` table.
EMPLOYEES: list[dict[str, str | None]] = [
    {"user_id": person.oa_user_id, "open_id": _OPEN_IDS[person.oa_user_id][0],
     "union_id": _OPEN_IDS[person.oa_user_id][1], "name": person.name,
     "en_name": person.en_name, "employee_no": person.number, "email": person.email,
     "mobile": person.mobile, "department_id": _DEPARTMENT_IDS[person.department],
     "job_title": person.title,
     "leader_user_id": employee(person.leader).oa_user_id if person.leader else None}
    for person in STAFF
]  # fmt: skip

# The definition's form as `GET /approvals/{code}` returns it (a JSON string there).
TRAVEL_FORM: list[dict[str, Any]] = [
    {"id": "widget_trip", "custom_id": "trip", "name": "出差", "type": "tripGroup",
     "required": True,
     "children": [
         {"id": "schedule", "name": "行程", "type": "fieldList"},
         {"id": "departure", "name": "出发城市", "type": "input"},
         {"id": "destination", "name": "目的城市", "type": "input"},
         {"id": "start", "name": "开始时间", "type": "date"},
         {"id": "end", "name": "结束时间", "type": "date"},
         {"id": "transportation", "name": "交通工具", "type": "radioV2"},
         {"id": "oneRound", "name": "单程往返", "type": "radioV2"},
     ]},
    {"id": "widget_purpose", "custom_id": "purpose", "name": "出差事由", "type": "textarea",
     "required": True},
]  # fmt: skip

# A form bizbus has no handler for: another team's purchase requests on the same Feishu app.
PURCHASE_FORM: list[dict[str, Any]] = [
    {"id": "widget_item", "custom_id": "item", "name": "采购物品", "type": "input",
     "required": True},
    {"id": "widget_amount", "custom_id": "amount", "name": "金额", "type": "input",
     "required": True},
    {"id": "widget_reason", "custom_id": "reason", "name": "采购事由", "type": "textarea",
     "required": True},
]  # fmt: skip

# What bizbus files for a discounted CRM order: the order, who sold it, and each line's price
# against the ERP's; the order id and line fingerprint let the decision find its order.
DISCOUNT_FORM: list[dict[str, Any]] = [
    {"id": "widget_order", "custom_id": "order", "name": "订单", "type": "input",
     "required": True},
    {"id": "widget_customer", "custom_id": "customer", "name": "客户", "type": "input",
     "required": True},
    {"id": "widget_salesperson", "custom_id": "salesperson", "name": "销售人员", "type": "input",
     "required": False},
    {"id": "widget_limit", "custom_id": "limit", "name": "折扣权限", "type": "input",
     "required": True},
    {"id": "widget_lines", "custom_id": "lines", "name": "折扣明细", "type": "textarea",
     "required": True},
    {"id": "widget_crm_order_id", "custom_id": "crm_order_id", "name": "CRM 订单 ID",
     "type": "input", "required": True},
    {"id": "widget_fingerprint", "custom_id": "fingerprint", "name": "明细指纹", "type": "input",
     "required": True},
]  # fmt: skip

# What bizbus files for a catalog field both systems edited: the question, both values, and
# the conflict itself (JSON) so its decision can be applied without other state.
CONFLICT_FORM: list[dict[str, Any]] = [
    {"id": "widget_model", "custom_id": "model", "name": "型号", "type": "input",
     "required": True},
    {"id": "widget_field", "custom_id": "field", "name": "字段", "type": "input",
     "required": True},
    {"id": "widget_question", "custom_id": "question", "name": "裁决", "type": "textarea",
     "required": True},
    {"id": "widget_edited_value", "custom_id": "edited_value", "name": "新值", "type": "input",
     "required": True},
    {"id": "widget_owner_value", "custom_id": "owner_value", "name": "原值", "type": "input",
     "required": True},
    {"id": "widget_conflict", "custom_id": "conflict", "name": "冲突记录", "type": "textarea",
     "required": True},
]  # fmt: skip

# One approval node after the start: the applicant's direct leader approves.
TRAVEL_NODES: list[dict[str, Any]] = [
    {"name": "提交", "need_approver": False, "node_id": "b078ffd28db767c502ac367053f6e0ac",
     "custom_node_id": "START", "node_type": "AND"},
    {"name": "直属上级审批", "need_approver": False,
     "node_id": "46e6d96cfa756980907209209ec03b64", "custom_node_id": "manager",
     "node_type": "AND"},
    {"name": "结束", "need_approver": False, "node_id": "b1a326c06d88bf042f73d70f50197905",
     "custom_node_id": "END", "node_type": "AND"},
]  # fmt: skip


def seed(store: SandboxStore, *, with_data: bool) -> None:
    """Create the OA tables and, when `with_data`, the company, its people and the definition."""
    store.db.executescript(DDL)
    if not with_data:
        return
    with store.transaction() as db:
        if not store.query("SELECT 1 FROM approvals LIMIT 1"):
            _insert(db)
        _definitions(db)  # a database seeded before a definition was added gets it too


def _insert(db: sqlite3.Connection) -> None:
    db.executemany("INSERT INTO departments VALUES (?, ?, ?, ?)", DEPARTMENTS)
    db.executemany(
        "INSERT INTO employees VALUES (:user_id, :open_id, :union_id, :name, :en_name, "
        ":employee_no, :email, :mobile, :department_id, :job_title, :leader_user_id)",
        EMPLOYEES,
    )


def _definitions(db: sqlite3.Connection) -> None:
    db.executemany(
        "INSERT OR IGNORE INTO approvals VALUES (?, ?, 'ACTIVE', ?, ?)",
        [
            (code, name, orjson.dumps(form).decode(), orjson.dumps(TRAVEL_NODES).decode())
            for code, name, form in (
                (TRAVEL_APPROVAL_CODE, APPROVAL_NAME, TRAVEL_FORM),
                (PURCHASE_APPROVAL_CODE, PURCHASE_NAME, PURCHASE_FORM),
                (DISCOUNT_APPROVAL_CODE, DISCOUNT_NAME, DISCOUNT_FORM),
                (CONFLICT_APPROVAL_CODE, CONFLICT_NAME, CONFLICT_FORM),
            )
        ],
    )
