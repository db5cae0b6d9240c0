"""Process instances and tasks of the sandbox DingTalk (workflow 1.0 semantics).

RUNNING → COMPLETED (result agree | refuse) | TERMINATED (撤销 by the originator, result
empty); an approved instance may still be revoked (TERMINATED, result stays agree) where the
form allows it, which the open API lacks (a control does it). One approval task: the
originator's manager (HR's 赵敏 for people without one). Creating has no idempotency key, as
DingTalk's has none. Each write logs an effect and returns the events to push.
"""

import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson

from bizbus.deploy.sandbox.app import SandboxContext
from bizbus.deploy.sandbox.dingtalk.errors import DingTalkError
from bizbus.deploy.sandbox.dingtalk.seed import CORP_ID, userid_of

__all__ = ["Book", "Event", "iso_minutes"]

Event = dict[str, Any]
_FALLBACK_APPROVER = userid_of("E1007")
_MAX_RESULTS = 20


def iso_minutes(ms: int) -> str | None:
    """DingTalk's time format in detail answers: UTC to the minute (``2024-05-20T01:00Z``)."""
    if not ms:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%MZ")


def _invalid(message: str) -> DingTalkError:
    return DingTalkError("invalidParameter", message)


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


class Book:
    """The approval data of one sandbox DingTalk org, on its SQLite store."""

    def __init__(self, ctx: SandboxContext, *, app_key: str) -> None:
        self.ctx = ctx
        self.store = ctx.store
        self.app_key = app_key

    def now_ms(self) -> int:
        """Sandbox time in epoch milliseconds."""
        return int(self.ctx.clock.now().timestamp() * 1000)

    def user(self, userid: Any) -> dict[str, Any]:
        """The user of a userid (``userNotExist`` when none)."""
        rows = self.store.query("SELECT * FROM users WHERE userid = ?", (str(userid or ""),))
        if not rows:
            raise DingTalkError("userNotExist", "用户不存在")
        return rows[0]

    def users(self) -> list[dict[str, Any]]:
        """Every user, by job number."""
        return self.store.query("SELECT * FROM users ORDER BY job_number")

    def _form(self, process_code: Any) -> dict[str, Any]:
        rows = self.store.query("SELECT * FROM forms WHERE process_code = ?", (process_code,))
        if not rows:
            raise DingTalkError("processCodeNotExist", "审批模板不存在")
        return rows[0]

    def _instance(self, instance_id: Any) -> dict[str, Any]:
        if not isinstance(instance_id, str) or not instance_id:
            raise DingTalkError("invalidInstanceId", "审批实例ID不能为空")
        rows = self.store.query("SELECT * FROM instances WHERE id = ?", (instance_id,))
        if not rows:
            raise DingTalkError("aflowProcessInstNotExist", "审批实例不存在")
        return rows[0]

    # -- writes -----------------------------------------------------------------------------

    def create(self, body: dict[str, Any]) -> tuple[str, list[Event]]:
        """File an instance (``StartProcessInstance``); returns its id and the events."""
        form = self._form(body.get("processCode"))
        originator = self.user(body.get("originatorUserId"))
        values = _check_values(body.get("formComponentValues"), orjson.loads(form["components"]))
        now = self.now_ms()
        instance_id = str(uuid.uuid4())
        approver = originator["manager_userid"] or _FALLBACK_APPROVER
        task_id = 60_000_000_000 + secrets.randbelow(10**10)
        with self.store.transaction() as db:
            (count,) = db.execute("SELECT count(*) FROM instances").fetchone()
            day = self.ctx.clock.now().strftime("%Y%m%d%H%M")
            records = [{"userId": originator["userid"], "date": iso_minutes(now),
                        "type": "START_PROCESS_INSTANCE", "result": "NONE",
                        "showName": "发起审批"}]  # fmt: skip
            db.execute(
                "INSERT INTO instances VALUES (?,?,?,?,?,?,'RUNNING','',?,?,0,?)",
                (instance_id, form["process_code"], originator["userid"], originator["dept_id"],
                 f"{originator['name']}提交的{form['name']}", f"{day}{count + 1:06d}",
                 _dumps(values), now, _dumps(records)),
            )  # fmt: skip
            db.execute(
                "INSERT INTO tasks VALUES (?,?,?,'RUNNING','NONE','manager',?,0)",
                (task_id, instance_id, approver, now),
            )
            self.store.record_effect(
                action="create", object_name="process_instance", record_id=instance_id,
                client=self.app_key,
                detail={"processCode": form["process_code"], "originator": originator["userid"]},
            )  # fmt: skip
        row = self._instance(instance_id)
        return instance_id, [self._event(row, "start", now)]

    def execute(self, body: dict[str, Any]) -> list[Event]:
        """Agree or refuse a running task (``ExecuteProcessInstance``); the instance ends."""
        row = self._instance(body.get("processInstanceId"))
        if row["status"] != "RUNNING":
            raise DingTalkError("aflowProcessInstCanNotBeExecuted", "审批状态异常,无法执行")
        result = body.get("result")
        if result not in ("agree", "refuse"):
            raise _invalid("result must be agree or refuse")
        tasks = self.store.query(
            "SELECT * FROM tasks WHERE task_id = ? AND instance_id = ?",
            (body.get("taskId"), row["id"]),
        )
        if not tasks or tasks[0]["status"] != "RUNNING":
            raise DingTalkError("taskNotExist", "任务不存在或已处理")
        if tasks[0]["userid"] != body.get("actionerUserId"):
            raise DingTalkError("userNotTaskOwner", "操作人不是任务处理人")
        now = self.now_ms()
        with self.store.transaction() as db:
            db.execute(
                "UPDATE tasks SET status = 'COMPLETED', result = ?, finish_ms = ? "
                "WHERE task_id = ?",
                (result.upper(), now, tasks[0]["task_id"]),
            )
            self._finish(db, row, "COMPLETED", result, now, entry={
                "userId": tasks[0]["userid"], "type": "EXECUTE_TASK_NORMAL",
                "result": result.upper(), "remark": str(body.get("remark") or ""),
                "showName": "审批人"})  # fmt: skip
            self.store.record_effect(
                action=result, object_name="process_instance", record_id=row["id"],
                client=self.app_key, detail={"taskId": tasks[0]["task_id"]},
            )  # fmt: skip
        return [self._event(self._instance(row["id"]), "finish", now)]

    def terminate(self, body: dict[str, Any], *, approved_too: bool = False) -> list[Event]:
        """Withdraw (撤销) a running instance as its originator (``TerminateProcessInstance``).

        ``approved_too``: also an approved one (the sandbox control; the API refuses it).
        """
        row = self._instance(body.get("processInstanceId"))
        allowed = row["status"] == "RUNNING" or (
            approved_too and row["status"] == "COMPLETED" and row["result"] == "agree"
        )
        if not allowed:
            raise DingTalkError("aflowProcessInstCanNotBeExecuted", "审批状态异常,无法执行")
        if not body.get("isSystem") and body.get("operatingUserId") != row["originator"]:
            raise DingTalkError("userNotOriginator", "只有发起人可以撤销审批")
        now = self.now_ms()
        with self.store.transaction() as db:
            db.execute(
                "UPDATE tasks SET status = 'CANCELED', finish_ms = ? "
                "WHERE instance_id = ? AND status = 'RUNNING'",
                (now, row["id"]),
            )
            self._finish(db, row, "TERMINATED", row["result"], now, entry={
                "userId": row["originator"], "type": "TERMINATE_PROCESS_INSTANCE",
                "result": "AGREE" if row["result"] == "agree" else "NONE",
                "remark": str(body.get("remark") or ""), "showName": "撤销"})  # fmt: skip
            self.store.record_effect(
                action="terminate", object_name="process_instance", record_id=row["id"],
                client=self.app_key, detail={"was": row["status"]},
            )  # fmt: skip
        return [self._event(self._instance(row["id"]), "terminate", now)]

    def _finish(
        self, db: Any, row: dict[str, Any], status: str, result: str, now: int,
        *, entry: dict[str, Any],
    ) -> None:  # fmt: skip
        records = orjson.loads(row["records"])
        records.append({**entry, "date": iso_minutes(now)})
        db.execute(
            "UPDATE instances SET status = ?, result = ?, finish_ms = ?, records = ? WHERE id = ?",
            (status, result, now, _dumps(records), row["id"]),
        )

    def _event(self, row: dict[str, Any], kind: str, at_ms: int) -> Event:
        event: Event = {
            "EventType": "bpms_instance_change", "processInstanceId": row["id"],
            "processCode": row["process_code"], "corpId": CORP_ID, "type": kind,
            "title": row["title"], "staffId": row["originator"],
            "createTime": row["create_ms"], "bizCategoryId": "",
            "url": f"https://aflow.dingtalk.com/dingtalk/mobile/homepage.htm?procInsId={row['id']}",
        }  # fmt: skip
        if kind != "start":
            event["finishTime"] = at_ms
        if kind == "finish":
            event["result"] = row["result"]
        return event

    # -- reads ------------------------------------------------------------------------------

    def detail(self, instance_id: Any) -> dict[str, Any]:
        """The ``GetProcessInstance`` result (no id or process code in it, as DingTalk's)."""
        row = self._instance(instance_id)
        tasks = self.store.query(
            "SELECT * FROM tasks WHERE instance_id = ? ORDER BY create_ms, task_id", (row["id"],)
        )
        dept = self.store.query("SELECT name FROM depts WHERE dept_id = ?", (row["dept_id"],))
        return {
            "title": row["title"], "businessId": row["business_id"], "status": row["status"],
            "result": row["result"], "createTime": iso_minutes(row["create_ms"]),
            "finishTime": iso_minutes(row["finish_ms"]), "originatorUserId": row["originator"],
            "originatorDeptId": str(row["dept_id"]),
            "originatorDeptName": dept[0]["name"] if dept else "",
            "bizAction": "NONE", "attachedProcessInstanceIds": [], "ccUserIds": [],
            "approverUserIds": [t["userid"] for t in tasks],
            "formComponentValues": orjson.loads(row["form"]),
            "operationRecords": orjson.loads(row["records"]),
            "tasks": [
                {"taskId": t["task_id"], "userId": t["userid"], "status": t["status"],
                 "result": t["result"], "activityId": t["activity_id"],
                 "createTime": iso_minutes(t["create_ms"]),
                 "finishTime": iso_minutes(t["finish_ms"]),
                 "pcUrl": "", "mobileUrl": ""}
                for t in tasks
            ],
        }  # fmt: skip

    def list_ids(self, body: dict[str, Any]) -> dict[str, Any]:
        """The ``ListProcessInstanceIds`` result: ids started in [startTime, endTime]."""
        self._form(body.get("processCode"))
        try:
            start, size = int(body["startTime"]), int(body["maxResults"])
            end = int(body.get("endTime") or self.now_ms())
            offset = int(body.get("nextToken") or 0)
        except (KeyError, TypeError, ValueError):
            raise _invalid("startTime, maxResults and nextToken must be numbers") from None
        if not 0 < size <= _MAX_RESULTS:
            raise _invalid(f"maxResults must be between 1 and {_MAX_RESULTS}")
        rows = self.store.query(
            "SELECT id FROM instances WHERE process_code = ? AND create_ms BETWEEN ? AND ? "
            "ORDER BY create_ms, id LIMIT ? OFFSET ?",
            (body["processCode"], start, end, size + 1, offset),
        )
        result: dict[str, Any] = {"list": [row["id"] for row in rows[:size]]}
        if len(rows) > size:
            result["nextToken"] = str(offset + size)
        return result


def _check_values(values: Any, components: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Check ``formComponentValues`` (by business alias, else label), as the detail shows them."""
    if not isinstance(values, list) or not values:
        raise _invalid("formComponentValues is required")
    by_name = {c["name"]: c for c in components}
    by_alias = {c["bizAlias"]: c for c in components if c.get("bizAlias")}
    given: dict[str, dict[str, Any]] = {}
    for value in values:
        if not isinstance(value, dict):
            raise _invalid("every form value must be an object")
        alias, name = value.get("bizAlias"), value.get("name")
        spec = by_alias.get(alias) if isinstance(alias, str) else None
        spec = spec or (by_name.get(name) if isinstance(name, str) else None)
        if spec is None:
            raise _invalid(f"form has no component named {name!r}")
        name = spec["name"]
        if not isinstance(value.get("value"), str):
            raise _invalid(f"component {name} needs a string value")
        if spec["componentType"] == "TableField":
            _check_table(value["value"], spec)
        shown = {"id": spec["id"], "name": name, "componentType": spec["componentType"],
                 "bizAlias": spec.get("bizAlias", ""), "value": value["value"]}  # fmt: skip
        if value.get("extValue"):
            shown["extValue"] = value["extValue"]
        given[name] = shown
    for spec in components:
        if spec.get("required") and not given.get(spec["name"], {}).get("value"):
            raise _invalid(f"required component {spec['name']} is missing")
    return [given[c["name"]] for c in components if c["name"] in given]


def _check_table(text: str, spec: dict[str, Any]) -> None:
    try:
        rows = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise _invalid(f"{spec['name']} value is not JSON") from None
    if not isinstance(rows, list) or not rows:
        raise _invalid(f"{spec['name']} needs at least one row")
    for n, row in enumerate(rows):
        cells = row.get("rowValue") if isinstance(row, dict) else None
        if not isinstance(cells, list):
            raise _invalid(f"{spec['name']} row {n} has no rowValue")
        labels = {c.get("label") for c in cells if isinstance(c, dict) and c.get("value")}
        missing = [label for label in spec["columns"] if label not in labels]
        if missing:
            raise _invalid(f"{spec['name']} row {n} lacks {', '.join(missing)}")
