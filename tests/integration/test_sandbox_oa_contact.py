"""Sandbox OA contact v3 users/get over real sockets with lark-oapi's contact client unchanged."""

import lark_oapi as lark
import pytest
from lark_oapi.api.contact.v3 import GetUserRequest

from bizbus.deploy.sandbox.company import employee
from bizbus.deploy.sandbox.registry import SYSTEMS

CREDENTIALS = SYSTEMS["oa"].credentials


@pytest.fixture(scope="module")
def client(oa_url: str) -> lark.Client:
    return (
        lark.Client.builder()
        .app_id(CREDENTIALS["app_id"])
        .app_secret(CREDENTIALS["app_secret"])
        .domain(oa_url)
        .timeout(10)
        .build()
    )


def get(client: lark.Client, user_id: str, id_type: str) -> lark.BaseResponse:
    request = GetUserRequest.builder().user_id(user_id).user_id_type(id_type).build()
    return client.contact.v3.user.get(request)


def test_the_applicant_and_their_leader_read_into_lark_models(client: lark.Client) -> None:
    applicant, leader = employee("E1001"), employee("E1000")  # 张伟, approved by 王建国
    answer = get(client, applicant.oa_user_id, "user_id")
    assert answer.success(), (answer.code, answer.msg)
    user = answer.data.user
    assert (user.user_id, user.name, user.en_name) == (applicant.oa_user_id, "张伟", "Wei Zhang")
    assert (user.employee_no, user.email, user.enterprise_email) == (
        "E1001", applicant.email, applicant.email,
    )  # fmt: skip
    assert user.leader_user_id == leader.oa_user_id
    assert user.status.is_activated is True and user.status.is_resigned is False
    assert user.department_ids and user.department_ids[0].startswith("od-")
    assert user.orders[0].is_primary_dept is True
    by_open_id = get(client, user.open_id, "open_id").data.user
    assert by_open_id.user_id == applicant.oa_user_id
    assert by_open_id.leader_user_id == get(client, leader.oa_user_id, "user_id").data.user.open_id


def test_an_unknown_user_answers_41050(client: lark.Client) -> None:
    answer = get(client, "00000000", "user_id")
    assert not answer.success()
    assert answer.code == 41050 and answer.data is None
