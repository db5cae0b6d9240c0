"""Feishu contact v3 `GET /open-apis/contact/v3/users/{user_id}` of the sandbox OA.

`user_id_type` (user_id | open_id | union_id, default open_id) names both the path id and the
`leader_user_id` answered; `department_id_type` (open_department_id | department_id, default
open_department_id) names `department_ids`. Unknown users answer 41050 (out of the app's contact
scope, as Feishu says for ids it will not show); bad id types 99992402.
"""

from typing import Any

from bizbus.deploy.sandbox.oa.errors import NO_USER_AUTHORITY, VALIDATION_FAILED, FeishuError
from bizbus.deploy.sandbox.store import SandboxStore

__all__ = ["DEPARTMENT_ID_TYPES", "USER_ID_TYPES", "contact_user"]

USER_ID_TYPES = ("open_id", "union_id", "user_id")
DEPARTMENT_ID_TYPES = ("open_department_id", "department_id")
_SELECT = (
    "SELECT e.*, d.open_department_id, l.user_id AS l_user_id, l.open_id AS l_open_id, "
    "l.union_id AS l_union_id FROM employees e JOIN departments d USING (department_id) "
    "LEFT JOIN employees l ON l.user_id = e.leader_user_id WHERE e."
)
_BY_ID_TYPE = {name: f"{_SELECT}{name} = ?" for name in USER_ID_TYPES}
_JOINED = 1672531200  # 2023-01-01 00:00 UTC, when the sandbox company's staff joined Feishu


def _check(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise FeishuError(
            VALIDATION_FAILED, f"field validation failed: {name} must be one of {list(allowed)}"
        )


def contact_user(
    store: SandboxStore,
    user_id: str,
    *,
    user_id_type: str = "open_id",
    department_id_type: str = "open_department_id",
) -> dict[str, Any]:
    """Return the `data.user` of Feishu's users/get for one employee.

    Raises:
        FeishuError: 99992402 for an unknown id type, 41050 for a user the app cannot see.
    """
    _check("user_id_type", user_id_type, USER_ID_TYPES)
    _check("department_id_type", department_id_type, DEPARTMENT_ID_TYPES)
    rows = store.query(_BY_ID_TYPE[user_id_type], (user_id,))
    if not rows:
        raise FeishuError(NO_USER_AUTHORITY, "no user authority error")
    row = rows[0]
    department = row["department_id" if department_id_type == "department_id"
                     else "open_department_id"]  # fmt: skip
    return {
        "union_id": row["union_id"], "user_id": row["user_id"], "open_id": row["open_id"],
        "name": row["name"], "en_name": row["en_name"], "nickname": "",
        "email": row["email"], "enterprise_email": row["email"], "mobile": row["mobile"],
        "mobile_visible": True, "gender": 0,
        "status": {"is_frozen": False, "is_resigned": False, "is_activated": True,
                   "is_exited": False, "is_unjoin": False},
        "department_ids": [department],
        "leader_user_id": row[f"l_{user_id_type}"] or "",
        "city": "苏州", "country": "CN", "work_station": "", "join_time": _JOINED,
        "is_tenant_manager": row["leader_user_id"] is None, "employee_no": row["employee_no"],
        "employee_type": 1, "job_title": row["job_title"], "time_zone": "Asia/Shanghai",
        "orders": [{"department_id": department, "user_order": 0, "department_order": 1,
                    "is_primary_dept": True}],
    }  # fmt: skip
