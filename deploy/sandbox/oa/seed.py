"""Seed data of the sandbox OA: 华东精工机械有限公司, a Chinese machinery maker, on Feishu.

Employees carry Feishu user_id/open_id/union_id, employee numbers, emails and departments; one
travel approval definition (出差申请) has a trip group widget and a purpose text widget.
"""

import sqlite3
from typing import Any

import orjson

from deploy.sandbox.store import SandboxStore

__all__ = [
    "APPROVAL_NAME",
    "DDL",
    "DEPARTMENTS",
    "EMPLOYEES",
    "TENANT_KEY",
    "TRAVEL_APPROVAL_CODE",
    "TRAVEL_FORM",
    "TRAVEL_NODES",
    "seed",
]

TENANT_KEY = "2ed263bf32cf1651"
TRAVEL_APPROVAL_CODE = "7C468A54-8745-2245-9675-08B7C63E7A85"
APPROVAL_NAME = "出差申请"

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

# (department_id, open_department_id, name, leader user_id)
DEPARTMENTS: list[tuple[str, str, str, str]] = [
    ("D1001", "od-4e6ac4d14bcd5071a37a39de902c7141", "总经办", "5d9bd9a1"),
    ("D1002", "od-8ec33ffec336c3a39a278bc25e931676", "国内销售部", "3ga5e4d1"),
    ("D1003", "od-2f3a9c1b7e6d4a5b8c9d0e1f2a3b4c5d", "生产制造部", "7b2c8e4f"),
    ("D1004", "od-a1b2c3d4e5f60718293a4b5c6d7e8f90", "人力资源部", "c8d1f2a6"),
]

# One row per employee; keys match the `employees` table.
EMPLOYEES: list[dict[str, str | None]] = [
    {"user_id": "5d9bd9a1", "open_id": "ou_7dab8a3d3cdcc9da365777c7ad535d62",
     "union_id": "on_94a1ee5551019f18cd73d9f111898cf2", "name": "王建国", "en_name": "Jianguo Wang",
     "employee_no": "HJ0001", "email": "wangjianguo@hdjg-machinery.cn", "mobile": "+8613800138001",
     "department_id": "D1001", "job_title": "总经理", "leader_user_id": None},
    {"user_id": "3ga5e4d1", "open_id": "ou_3cda9c969f737aaa05e6915dce306cb9",
     "union_id": "on_8ed6aa67826108097d9ee143816345ab", "name": "李娜", "en_name": "Na Li",
     "employee_no": "HJ0107", "email": "lina@hdjg-machinery.cn", "mobile": "+8613800138107",
     "department_id": "D1002", "job_title": "销售总监", "leader_user_id": "5d9bd9a1"},
    {"user_id": "f8ca557e", "open_id": "ou_99e1a581b36ecc4862cbfbce473f1234",
     "union_id": "on_d4a2c2b3e2f3c7e0b7f6a5d4c3b2a1f0", "name": "张伟", "en_name": "Wei Zhang",
     "employee_no": "HJ0231", "email": "zhangwei@hdjg-machinery.cn", "mobile": "+8613800138231",
     "department_id": "D1002", "job_title": "大客户经理", "leader_user_id": "3ga5e4d1"},
    {"user_id": "a7e91c2d", "open_id": "ou_550cc75233d8b7b9fcbdad65f34433f4",
     "union_id": "on_1f2e3d4c5b6a79808f7e6d5c4b3a2918", "name": "陈静", "en_name": "Jing Chen",
     "employee_no": "HJ0245", "email": "chenjing@hdjg-machinery.cn", "mobile": "+8613800138245",
     "department_id": "D1002", "job_title": "销售工程师", "leader_user_id": "3ga5e4d1"},
    {"user_id": "7b2c8e4f", "open_id": "ou_0c9b8a7f6e5d4c3b2a1908f7e6d5c4b3",
     "union_id": "on_5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d", "name": "刘强", "en_name": "Qiang Liu",
     "employee_no": "HJ0302", "email": "liuqiang@hdjg-machinery.cn", "mobile": "+8613800138302",
     "department_id": "D1003", "job_title": "生产总监", "leader_user_id": "5d9bd9a1"},
    {"user_id": "2e4f6a8c", "open_id": "ou_6f5e4d3c2b1a09f8e7d6c5b4a3928170",
     "union_id": "on_0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c", "name": "赵磊", "en_name": "Lei Zhao",
     "employee_no": "HJ0318", "email": "zhaolei@hdjg-machinery.cn", "mobile": "+8613800138318",
     "department_id": "D1003", "job_title": "工艺工程师", "leader_user_id": "7b2c8e4f"},
    {"user_id": "c8d1f2a6", "open_id": "ou_1a2b3c4d5e6f708192a3b4c5d6e7f809",
     "union_id": "on_9f8e7d6c5b4a39281706f5e4d3c2b1a0", "name": "孙丽", "en_name": "Li Sun",
     "employee_no": "HJ0402", "email": "sunli@hdjg-machinery.cn", "mobile": "+8613800138402",
     "department_id": "D1004", "job_title": "人事行政经理", "leader_user_id": "5d9bd9a1"},
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
    if not with_data or store.query("SELECT 1 FROM approvals LIMIT 1"):
        return
    with store.transaction() as db:
        _insert(db)


def _insert(db: sqlite3.Connection) -> None:
    db.executemany("INSERT INTO departments VALUES (?, ?, ?, ?)", DEPARTMENTS)
    db.executemany(
        "INSERT INTO employees VALUES (:user_id, :open_id, :union_id, :name, :en_name, "
        ":employee_no, :email, :mobile, :department_id, :job_title, :leader_user_id)",
        EMPLOYEES,
    )
    db.execute(
        "INSERT INTO approvals VALUES (?, ?, 'ACTIVE', ?, ?)",
        (
            TRAVEL_APPROVAL_CODE,
            APPROVAL_NAME,
            orjson.dumps(TRAVEL_FORM).decode(),
            orjson.dumps(TRAVEL_NODES).decode(),
        ),
    )
