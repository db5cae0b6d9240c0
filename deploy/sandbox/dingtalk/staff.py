"""Staff filing, approving and revoking trips in the sandbox DingTalk, through its open API.

For tests and demos: what people do in the DingTalk app, done with the app's token (the
workflow 1.0 calls an integration would make), plus the revoke control the API lacks.
"""

import json
from datetime import date, datetime, time, timedelta
from typing import Any, Self

import httpx

from bizbus.deploy.sandbox.dingtalk.seed import TRAVEL_PROCESS_CODE
from bizbus.deploy.sandbox.registry import SYSTEMS

__all__ = ["DingTalkStaff", "trip_form"]


def trip_form(destination: str, start: date, days: int, purpose: str) -> list[dict[str, str]]:
    """The 出差申请 form values: the purpose and a one-row 行程 table (09:00 to 18:00)."""
    begin = datetime.combine(start, time(9))
    end = datetime.combine(start + timedelta(days=days - 1), time(18))
    row = [
        {"label": "出发城市", "value": "苏州"}, {"label": "目的城市", "value": destination},
        {"label": "开始时间", "value": begin.strftime("%Y-%m-%d %H:%M")},
        {"label": "结束时间", "value": end.strftime("%Y-%m-%d %H:%M")},
        {"label": "交通工具", "value": "高铁"},
    ]  # fmt: skip
    return [
        {"name": "出差事由", "value": purpose},
        {"name": "行程", "value": json.dumps([{"rowValue": row}], ensure_ascii=False)},
    ]


class DingTalkStaff:
    """People of the org acting on approvals in one sandbox DingTalk."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.AsyncClient(base_url=base_url, timeout=10)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.http.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        if "x-acs-dingtalk-access-token" not in self.http.headers:
            app = SYSTEMS["dingtalk"].credentials
            answer = await self.http.post(
                "/v1.0/oauth2/accessToken",
                json={"appKey": app["app_key"], "appSecret": app["app_secret"]},
            )
            answer.raise_for_status()
            self.http.headers["x-acs-dingtalk-access-token"] = answer.json()["accessToken"]
        response = await self.http.request(method, path, **kwargs)
        body: dict[str, Any] = response.json()
        if response.status_code != 200:
            raise RuntimeError(f"DingTalk error {body.get('code')}: {body.get('message')}")
        return body

    async def file_trip(
        self, userid: str, *, destination: str, start: date, days: int, purpose: str
    ) -> str:
        """File a 出差申请 for ``userid``; return the process instance id."""
        body = await self._call("POST", "/v1.0/workflow/processInstances", json={
            "processCode": TRAVEL_PROCESS_CODE, "originatorUserId": userid,
            "formComponentValues": trip_form(destination, start, days, purpose),
        })  # fmt: skip
        instance_id: str = body["instanceId"]
        return instance_id

    async def detail(self, instance_id: str) -> dict[str, Any]:
        """The instance's ``GetProcessInstance`` result."""
        body = await self._call(
            "GET", "/v1.0/workflow/processInstances", params={"processInstanceId": instance_id}
        )
        result: dict[str, Any] = body["result"]
        return result

    async def decide(self, instance_id: str, *, agree: bool = True, remark: str = "") -> None:
        """The owner of the running task agrees (or refuses)."""
        [task] = [t for t in (await self.detail(instance_id))["tasks"] if t["status"] == "RUNNING"]
        await self._call("POST", "/v1.0/workflow/processInstances/execute", json={
            "processInstanceId": instance_id, "taskId": task["taskId"],
            "actionerUserId": task["userId"], "result": "agree" if agree else "refuse",
            "remark": remark,
        })  # fmt: skip

    async def revoke(self, instance_id: str, *, remark: str = "") -> None:
        """The originator revokes (撤销) an approved instance (a sandbox control)."""
        response = await self.http.post(
            "/_sandbox/instances/revoke", json={"processInstanceId": instance_id, "remark": remark}
        )
        response.raise_for_status()
