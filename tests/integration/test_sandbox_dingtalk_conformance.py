"""Sandbox DingTalk over real sockets with DingTalk's official SDK (alibabacloud-dingtalk).

Its oauth2 1.0 client gets the app token; its workflow 1.0 client files, reads, lists, decides
and withdraws instances; its exceptions carry the error codes DingTalk documents.
"""

import json
from typing import Any
from urllib.parse import urlsplit

import pytest
from alibabacloud_dingtalk.oauth2_1_0 import models as oauth_models
from alibabacloud_dingtalk.oauth2_1_0.client import Client as OAuthClient
from alibabacloud_dingtalk.workflow_1_0 import models as wf
from alibabacloud_dingtalk.workflow_1_0.client import Client as WorkflowClient
from alibabacloud_tea_openapi import models as open_api_models
from alibabacloud_tea_util import models as util_models
from darabonba.exceptions import UnretryableException

from bizbus.deploy.sandbox.company import employee
from bizbus.deploy.sandbox.dingtalk.seed import TRAVEL_PROCESS_CODE, userid_of
from bizbus.deploy.sandbox.registry import SYSTEMS

CREDENTIALS = SYSTEMS["dingtalk"].credentials
APPLICANT = userid_of("E1002")  # 李娜, whose manager is 张伟 (E1001)
MANAGER = userid_of(employee("E1002").leader or "")
RUNTIME = util_models.RuntimeOptions()


def config(url: str) -> open_api_models.Config:
    return open_api_models.Config(protocol="http", region_id="central",
                                  endpoint=urlsplit(url).netloc)  # fmt: skip


def token(url: str, secret: str = CREDENTIALS["app_secret"]) -> str:
    request = oauth_models.GetAccessTokenRequest(app_key=CREDENTIALS["app_key"], app_secret=secret)
    answer = OAuthClient(config(url)).get_access_token(request)
    # expireIn is the token's remaining life: a token issued earlier in the session is reused.
    assert 0 < answer.body.expire_in <= 7200
    value: str = answer.body.access_token
    return value


FormValue = wf.StartProcessInstanceRequestFormComponentValues


def trip_values(destination: str = "上海") -> list[Any]:
    rows = [{"rowValue": [
        {"label": "出发城市", "value": "苏州"}, {"label": "目的城市", "value": destination},
        {"label": "开始时间", "value": "2026-12-10 09:00"},
        {"label": "结束时间", "value": "2026-12-12 18:00"}, {"label": "交通工具", "value": "高铁"},
    ]}]  # fmt: skip
    return [FormValue(name="出差事由", value="参加展会"),
            FormValue(name="行程", value=json.dumps(rows, ensure_ascii=False))]  # fmt: skip


class Workflow:
    """The SDK's workflow client with the app's token on every call."""

    def __init__(self, url: str) -> None:
        self.client = WorkflowClient(config(url))
        self.token = token(url)

    def headers(self, kind: Any) -> Any:
        return kind(x_acs_dingtalk_access_token=self.token)

    def start(self, destination: str = "上海") -> str:
        request = wf.StartProcessInstanceRequest(
            process_code=TRAVEL_PROCESS_CODE, originator_user_id=APPLICANT,
            form_component_values=trip_values(destination),
        )  # fmt: skip
        answer = self.client.start_process_instance_with_options(
            request, self.headers(wf.StartProcessInstanceHeaders), RUNTIME
        )
        instance_id: str = answer.body.instance_id
        return instance_id

    def get(self, instance_id: str) -> wf.GetProcessInstanceResponseBodyResult:
        answer = self.client.get_process_instance_with_options(
            wf.GetProcessInstanceRequest(process_instance_id=instance_id),
            self.headers(wf.GetProcessInstanceHeaders), RUNTIME,
        )  # fmt: skip
        assert answer.body.success
        return answer.body.result

    def list_ids(self, **kw: Any) -> wf.ListProcessInstanceIdsResponseBodyResult:
        request = wf.ListProcessInstanceIdsRequest(process_code=TRAVEL_PROCESS_CODE, **kw)
        answer = self.client.list_process_instance_ids_with_options(
            request, self.headers(wf.ListProcessInstanceIdsHeaders), RUNTIME
        )
        return answer.body.result

    def execute(self, instance_id: str, task_id: int, result: str, actioner: str) -> None:
        request = wf.ExecuteProcessInstanceRequest(
            process_instance_id=instance_id, task_id=task_id, result=result,
            actioner_user_id=actioner, remark="同意" if result == "agree" else "不同意",
        )  # fmt: skip
        answer = self.client.execute_process_instance_with_options(
            request, self.headers(wf.ExecuteProcessInstanceHeaders), RUNTIME
        )
        assert answer.body.result is True

    def terminate(self, instance_id: str, operator: str) -> None:
        request = wf.TerminateProcessInstanceRequest(
            process_instance_id=instance_id, is_system=False, operating_user_id=operator,
            remark="行程取消",
        )  # fmt: skip
        answer = self.client.terminate_process_instance_with_options(
            request, self.headers(wf.TerminateProcessInstanceHeaders), RUNTIME
        )
        assert answer.body.result is True


@pytest.fixture(scope="module")
def workflow(dingtalk_url: str) -> Workflow:
    return Workflow(dingtalk_url)


def test_a_wrong_app_secret_gets_no_token(dingtalk_url: str) -> None:
    with pytest.raises(UnretryableException) as caught:
        token(dingtalk_url, "not-the-secret")
    assert caught.value.code == "invalidClientIdOrSecret"


def test_a_filed_trip_reads_back_with_its_form_and_the_managers_task(workflow: Workflow) -> None:
    instance_id = workflow.start("北京")
    result = workflow.get(instance_id)
    assert (result.status, result.result, result.originator_user_id) == ("RUNNING", "", APPLICANT)
    assert result.title == "李娜提交的出差申请" and result.create_time.endswith("Z")
    values = {value.name: value for value in result.form_component_values}
    assert values["出差事由"].value == "参加展会"
    assert values["行程"].component_type == "TableField"
    assert json.loads(values["行程"].value)[0]["rowValue"][1]["value"] == "北京"
    [task] = result.tasks
    assert (task.user_id, task.status, task.result) == (MANAGER, "RUNNING", "NONE")
    assert isinstance(task.task_id, int)


def test_the_manager_agrees_and_the_instance_completes(workflow: Workflow) -> None:
    instance_id = workflow.start()
    task = workflow.get(instance_id).tasks[0]
    with pytest.raises(UnretryableException) as caught:  # only the task's owner may act
        workflow.execute(instance_id, task.task_id, "agree", APPLICANT)
    assert caught.value.code == "userNotTaskOwner"
    workflow.execute(instance_id, task.task_id, "agree", MANAGER)
    result = workflow.get(instance_id)
    assert (result.status, result.result) == ("COMPLETED", "agree")
    assert result.finish_time and result.tasks[0].result == "AGREE"
    assert [r.type for r in result.operation_records] == [
        "START_PROCESS_INSTANCE", "EXECUTE_TASK_NORMAL",
    ]  # fmt: skip
    with pytest.raises(UnretryableException) as again:
        workflow.execute(instance_id, task.task_id, "refuse", MANAGER)
    assert again.value.code == "aflowProcessInstCanNotBeExecuted"


def test_the_originator_withdraws_a_running_instance(workflow: Workflow) -> None:
    instance_id = workflow.start()
    workflow.terminate(instance_id, APPLICANT)
    result = workflow.get(instance_id)
    assert (result.status, result.result) == ("TERMINATED", "")
    assert result.operation_records[-1].remark == "行程取消"


def test_instance_ids_are_listed_by_start_time_page_by_page(workflow: Workflow) -> None:
    filed = [workflow.start() for _ in range(3)]
    found: list[str] = []
    next_token = 0
    pages = 0
    while True:
        page = workflow.list_ids(start_time=0, end_time=2**42, next_token=next_token,
                                 max_results=2)  # fmt: skip
        found.extend(page.list)
        pages += 1
        if not page.next_token:
            break
        next_token = int(page.next_token)
    assert pages >= 2 and set(filed) <= set(found) and len(found) == len(set(found))
    later = workflow.list_ids(start_time=2**41, next_token=0, max_results=20)
    assert later.list == []


def test_errors_carry_dingtalks_codes(dingtalk_url: str, workflow: Workflow) -> None:
    with pytest.raises(UnretryableException) as unknown:
        workflow.get("no-such-instance")
    assert unknown.value.code == "aflowProcessInstNotExist"
    assert unknown.value.data["statusCode"] == 400
    stranger = Workflow.__new__(Workflow)
    stranger.client, stranger.token = WorkflowClient(config(dingtalk_url)), "expired-token"
    with pytest.raises(UnretryableException) as refused:
        stranger.get("no-such-instance")
    assert refused.value.code == "InvalidAuthentication"
    assert refused.value.data["statusCode"] == 401
    with pytest.raises(UnretryableException) as too_many:
        workflow.list_ids(start_time=0, next_token=0, max_results=21)
    assert too_many.value.code == "invalidParameter"
