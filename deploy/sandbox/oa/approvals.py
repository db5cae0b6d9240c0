"""Approval definitions, instances and tasks of the sandbox OA (Feishu approval v4 semantics).

Instance states: PENDING → APPROVED | REJECTED | CANCELED, then APPROVED → REVERTED (撤销); one
approval node (the applicant's direct leader). Create is idempotent on `uuid` (same content →
same instance, other content → 60012). Each write logs an effect keyed by the instance uuid and
returns the StatusChange to push.
"""

import base64
import hashlib
import secrets
import uuid as uuidlib
from dataclasses import dataclass
from datetime import timedelta, timezone
from typing import Any

import orjson

from bizbus.deploy.sandbox.app import SandboxContext
from bizbus.deploy.sandbox.oa.errors import (
    APPROVAL_NOT_FOUND,
    INSTANCE_NOT_FOUND,
    PARAM_INVALID,
    SUBSCRIPTION_EXISTS,
    UUID_CONFLICT,
    FeishuError,
)
from bizbus.deploy.sandbox.oa.forms import parse_form

__all__ = ["ApprovalBook", "StatusChange"]

CHINA = timezone(timedelta(hours=8))
_FALLBACK_APPROVER = "c8d1f2a6"  # HR (赵敏 E1007) approves for people without a leader
_ID_FIELDS = ("user_id", "open_id", "union_id")


@dataclass(frozen=True)
class StatusChange:
    """One instance status change, to be pushed as events."""

    approval_code: str
    instance_code: str
    uuid: str
    status: str
    operate_time_ms: int
    user: dict[str, Any]
    form: list[dict[str, Any]]


def _invalid(detail: str) -> FeishuError:
    return FeishuError(PARAM_INVALID, f"param is invalid: {detail}")


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


class ApprovalBook:
    """The approval data of one sandbox OA, on its SQLite store."""

    def __init__(self, ctx: SandboxContext, *, app_id: str) -> None:
        self.ctx = ctx
        self.store = ctx.store
        self.app_id = app_id

    def now_ms(self) -> int:
        """Return sandbox time in epoch milliseconds."""
        return int(self.ctx.clock.now().timestamp() * 1000)

    # -- people and definitions -------------------------------------------------------------

    def employee(self, value: str | None, *, id_type: str = "user_id") -> dict[str, Any]:
        """Return the employee with this id, or raise 1390001."""
        if id_type not in _ID_FIELDS:
            raise _invalid(f"user_id_type must be one of {list(_ID_FIELDS)}")
        rows = self.store.query(f"SELECT * FROM employees WHERE {id_type} = ?", (value,))  # noqa: S608 - column from allow-list
        if not rows:
            raise _invalid(f"user {value!r} ({id_type}) not found")
        return rows[0]

    def employees(self) -> list[dict[str, Any]]:
        """Return every employee with the department name."""
        return self.store.query(
            "SELECT e.*, d.name AS department_name, d.open_department_id FROM employees e "
            "JOIN departments d USING (department_id) ORDER BY e.employee_no"
        )

    def _approval(self, approval_code: Any) -> dict[str, Any]:
        if not isinstance(approval_code, str) or not approval_code:
            raise _invalid("approval_code is required")
        rows = self.store.query("SELECT * FROM approvals WHERE approval_code = ?", (approval_code,))
        if not rows:
            raise FeishuError(APPROVAL_NOT_FOUND, "approval code not found")
        return rows[0]

    def definition(self, approval_code: str) -> dict[str, Any]:
        """Return the `GET /approvals/{approval_code}` data."""
        row = self._approval(approval_code)
        nodes = orjson.loads(row["node_list"])
        return {
            "approval_name": row["approval_name"], "status": row["status"], "form": row["form"],
            "node_list": nodes, "viewers": [{"type": "TENANT", "id": "", "user_id": ""}],
            "approval_admin_ids": [_FALLBACK_APPROVER], "form_widget_relation": "",
        }  # fmt: skip

    def subscribe(self, approval_code: str) -> None:
        """Subscribe this app to the definition's events (1390007 when already subscribed)."""
        self._approval(approval_code)
        with self.store.transaction() as db:
            if db.execute(
                "SELECT 1 FROM subscriptions WHERE approval_code = ?", (approval_code,)
            ).fetchone():
                raise FeishuError(SUBSCRIPTION_EXISTS, "subscription existed")
            db.execute(
                "INSERT INTO subscriptions VALUES (?, ?, ?)",
                (approval_code, self.app_id, self.ctx.clock.now().isoformat()),
            )
            self.store.record_effect(
                action="subscribe", object_name="approval_subscription",
                record_id=approval_code, key=approval_code, client=self.app_id,
            )  # fmt: skip

    def subscribed(self, approval_code: str) -> bool:
        """Return whether the app subscribed to this definition's events."""
        return bool(
            self.store.query(
                "SELECT 1 FROM subscriptions WHERE approval_code = ?", (approval_code,)
            )
        )

    # -- instances --------------------------------------------------------------------------

    def _instance(self, instance_code: Any) -> dict[str, Any]:
        if not isinstance(instance_code, str) or not instance_code:
            raise _invalid("instance_code is required")
        rows = self.store.query("SELECT * FROM instances WHERE instance_code = ?", (instance_code,))
        if not rows:
            raise FeishuError(INSTANCE_NOT_FOUND, "instance code not found")
        return rows[0]

    def _change(self, row: dict[str, Any], status: str, at_ms: int) -> StatusChange:
        return StatusChange(
            approval_code=row["approval_code"], instance_code=row["instance_code"],
            uuid=row["uuid"], status=status, operate_time_ms=at_ms,
            user=self.employee(row["user_id"]), form=orjson.loads(row["form"]),
        )  # fmt: skip

    def create(self, body: dict[str, Any]) -> tuple[str, list[StatusChange]]:
        """Create an instance (or return the one made earlier with the same uuid)."""
        approval = self._approval(body.get("approval_code"))
        if body.get("user_id"):
            user = self.employee(body["user_id"])
        elif body.get("open_id"):
            user = self.employee(body["open_id"], id_type="open_id")
        else:
            raise _invalid("user_id or open_id is required")
        form = parse_form(body.get("form"), orjson.loads(approval["form"]))
        given_uuid = body.get("uuid")
        if given_uuid is not None and (not isinstance(given_uuid, str) or not given_uuid):
            raise _invalid("uuid must be a non-empty string")
        request_hash = hashlib.sha256(
            _dumps([approval["approval_code"], user["user_id"], form]).encode()
        ).hexdigest()
        now = self.now_ms()
        with self.store.transaction() as db:
            if given_uuid:
                earlier = db.execute(
                    "SELECT instance_code, request_hash FROM instances WHERE lower(uuid) = ?",
                    (given_uuid.lower(),),
                ).fetchone()
                if earlier is not None:
                    if earlier["request_hash"] != request_hash:
                        raise FeishuError(UUID_CONFLICT, "uuid conflict")
                    return str(earlier["instance_code"]), []
            code = str(uuidlib.uuid4()).upper()
            key = given_uuid or str(uuidlib.uuid4())
            day = self.ctx.clock.now().astimezone(CHINA).strftime("%Y%m%d")
            (count,) = db.execute(
                "SELECT count(*) FROM instances WHERE serial_number LIKE ?", (day + "%",)
            ).fetchone()
            leader = user["leader_user_id"] or _FALLBACK_APPROVER
            approver = self.employee(leader)
            task_id = str(7_000_000_000_000_000_000 + secrets.randbelow(10**18))
            node = orjson.loads(approval["node_list"])[1]
            timeline = [
                {"type": "START", "create_time": str(now), "user_id": user["user_id"],
                 "open_id": user["open_id"], "ext": "{}", "node_key": ""},
            ]  # fmt: skip
            db.execute(
                "INSERT INTO instances VALUES (?,?,?,?,?,?,?,'PENDING',?,?,?,0,?,'[]')",
                (code, approval["approval_code"], key, request_hash, user["user_id"],
                 user["open_id"], user["department_id"], _dumps(form),
                 f"{day}{count + 1:04d}", now, _dumps(timeline)),
            )  # fmt: skip
            db.execute(
                "INSERT INTO tasks VALUES (?,?,?,?,'PENDING',?,?,?,'AND',?,0)",
                (task_id, code, approver["user_id"], approver["open_id"], node["node_id"],
                 node["name"], node["custom_node_id"], now),
            )  # fmt: skip
            self.store.record_effect(
                action="create", object_name="approval_instance", record_id=code, key=key,
                client=self.app_id,
                detail={"approval_code": approval["approval_code"], "user_id": user["user_id"],
                        "task_id": task_id},
            )  # fmt: skip
        return code, [self._change(self._instance(code), "PENDING", now)]

    def detail(self, instance_code: str) -> dict[str, Any]:
        """Return the `GET /instances/{instance_code}` data."""
        row = self._instance(instance_code)
        approval = self._approval(row["approval_code"])
        tasks = self.store.query(
            "SELECT * FROM tasks WHERE instance_code = ? ORDER BY start_time, id", (instance_code,)
        )
        for task in tasks:
            del task["instance_code"]
            task["start_time"], task["end_time"] = str(task["start_time"]), str(task["end_time"])
        return {
            "approval_name": approval["approval_name"], "approval_code": row["approval_code"],
            "instance_code": instance_code, "start_time": str(row["start_time"]),
            "end_time": str(row["end_time"]), "user_id": row["user_id"],
            "open_id": row["open_id"], "serial_number": row["serial_number"],
            "department_id": row["department_id"], "status": row["status"], "uuid": row["uuid"],
            "form": row["form"], "task_list": tasks,
            "comment_list": orjson.loads(row["comment_list"]),
            "timeline": orjson.loads(row["timeline"]), "modified_instance_code": "",
            "reverted_instance_code": "", "reverted": row["status"] == "REVERTED",
        }  # fmt: skip

    def list_codes(
        self, approval_code: str, start_ms: int, end_ms: int, *, page_size: int, page_token: str
    ) -> dict[str, Any]:
        """Return instance codes started in [start_ms, end_ms], oldest first, one page."""
        self._approval(approval_code)
        if not 0 < page_size <= 100:
            raise _invalid("page_size must be between 1 and 100")
        try:
            offset = int(base64.urlsafe_b64decode(page_token).decode()) if page_token else 0
        except ValueError:
            raise _invalid("page_token is invalid") from None
        rows = self.store.query(
            "SELECT instance_code FROM instances WHERE approval_code = ? AND start_time >= ? "
            "AND start_time <= ? ORDER BY start_time, instance_code LIMIT ? OFFSET ?",
            (approval_code, start_ms, end_ms, page_size + 1, offset),
        )
        has_more = len(rows) > page_size
        data: dict[str, Any] = {
            "instance_code_list": [row["instance_code"] for row in rows[:page_size]],
            "has_more": has_more,
        }
        if has_more:
            data["page_token"] = base64.urlsafe_b64encode(str(offset + page_size).encode()).decode()
        return data

    def _pending(self, body: dict[str, Any]) -> dict[str, Any]:
        row = self._instance(body.get("instance_code"))
        if body.get("approval_code") != row["approval_code"]:
            raise FeishuError(APPROVAL_NOT_FOUND, "approval code not found")
        if row["status"] != "PENDING":
            raise _invalid(f"instance is {row['status']}, not PENDING")
        return row

    def decide(self, body: dict[str, Any], *, approve: bool, id_type: str) -> list[StatusChange]:
        """Approve or reject a pending task; the instance ends with the task's decision."""
        row = self._pending(body)
        actor = self.employee(body.get("user_id"), id_type=id_type)
        tasks = self.store.query(
            "SELECT * FROM tasks WHERE id = ? AND instance_code = ?",
            (body.get("task_id"), row["instance_code"]),
        )
        if not tasks or tasks[0]["status"] != "PENDING":
            raise _invalid("task_id is not a pending task of this instance")
        if tasks[0]["user_id"] != actor["user_id"]:
            raise _invalid("user is not the approver of this task")
        status, step = ("APPROVED", "PASS") if approve else ("REJECTED", "REJECT")
        comment = str(body.get("comment") or "")
        return self._finish(row, status, actor, step=step, task_id=tasks[0]["id"], comment=comment)

    def cancel(self, body: dict[str, Any], *, id_type: str) -> list[StatusChange]:
        """Withdraw a pending instance; only its applicant may."""
        row = self._pending(body)
        actor = self.employee(body.get("user_id"), id_type=id_type)
        if actor["user_id"] != row["user_id"]:
            raise _invalid("only the applicant can cancel the instance")
        return self._finish(row, "CANCELED", actor, step="CANCEL", task_id="", comment="")

    def revert(self, instance_code: str, *, comment: str = "") -> list[StatusChange]:
        """Revoke (撤销) an approved instance as its applicant: APPROVED → REVERTED."""
        row = self._instance(instance_code)
        if row["status"] != "APPROVED":
            raise _invalid(f"instance is {row['status']}, not APPROVED")
        actor = self.employee(row["user_id"])
        return self._finish(row, "REVERTED", actor, step="REVERT", task_id="", comment=comment)

    def _finish(
        self, row: dict[str, Any], status: str, actor: dict[str, Any], *, step: str,
        task_id: str, comment: str,
    ) -> list[StatusChange]:  # fmt: skip
        now = self.now_ms()
        timeline = orjson.loads(row["timeline"])
        timeline.append(
            {"type": step, "create_time": str(now), "user_id": actor["user_id"],
             "open_id": actor["open_id"], "task_id": task_id, "comment": comment, "ext": "{}",
             "node_key": ""}
        )  # fmt: skip
        comments = orjson.loads(row["comment_list"])
        if comment:
            comments.append(
                {"id": str(7_100_000_000_000_000_000 + secrets.randbelow(10**18)),
                 "user_id": actor["user_id"], "open_id": actor["open_id"], "comment": comment,
                 "create_time": str(now)}
            )  # fmt: skip
        task_status = {"PASS": "APPROVED", "REJECT": "REJECTED"}.get(step, "DONE")
        with self.store.transaction() as db:
            db.execute(
                "UPDATE instances SET status = ?, end_time = ?, timeline = ?, comment_list = ? "
                "WHERE instance_code = ?",
                (status, now, _dumps(timeline), _dumps(comments), row["instance_code"]),
            )
            db.execute(
                "UPDATE tasks SET status = CASE WHEN id = ? THEN ? ELSE 'DONE' END, end_time = ? "
                "WHERE instance_code = ? AND status = 'PENDING'",
                (task_id, task_status, now, row["instance_code"]),
            )
            self.store.record_effect(
                action={"PASS": "approve", "REJECT": "reject", "REVERT": "revert"}.get(
                    step, "cancel"
                ),
                object_name="approval_instance",
                record_id=row["instance_code"], key=row["uuid"], client=self.app_id,
                detail={"status": status, "task_id": task_id, "user_id": actor["user_id"]},
            )  # fmt: skip
        return [self._change(row, status, now)]
