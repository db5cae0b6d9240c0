"""Sandbox OA contact v3 users/get: the company's staff, id types, leaders and Feishu's errors."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from bizbus.deploy.sandbox.app import SandboxConfig
from bizbus.deploy.sandbox.company import EMPLOYEES, department, employee
from bizbus.deploy.sandbox.oa import create_app
from bizbus.deploy.sandbox.registry import SYSTEMS

USERS = "/open-apis/contact/v3/users"


@pytest.fixture
async def oa() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(SandboxConfig()))
    async with httpx.AsyncClient(transport=transport, base_url="http://oa") as http:
        creds = SYSTEMS["oa"].credentials
        answer = await http.post(
            "/open-apis/auth/v3/tenant_access_token/internal",
            json={"app_id": creds["app_id"], "app_secret": creds["app_secret"]},
        )
        http.headers["Authorization"] = f"Bearer {answer.json()['tenant_access_token']}"
        yield http


async def get_user(oa: httpx.AsyncClient, user_id: str, **params: str) -> dict[str, Any]:
    answer = await oa.get(f"{USERS}/{user_id}", params=params)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["code"], body["msg"]) == (0, "success")
    user: dict[str, Any] = body["data"]["user"]
    return user


async def test_every_employee_resolves_by_user_id_with_the_company_master_data(
    oa: httpx.AsyncClient,
) -> None:
    for person in EMPLOYEES:
        user = await get_user(oa, person.oa_user_id, user_id_type="user_id")
        assert (user["user_id"], user["name"], user["employee_no"]) == (
            person.oa_user_id, person.name, person.number,
        )  # fmt: skip
        assert user["email"] == user["enterprise_email"] == person.email
        leader = employee(person.leader).oa_user_id if person.leader else ""
        assert user["leader_user_id"] == leader
        assert user["open_id"].startswith("ou_") and user["union_id"].startswith("on_")
        assert user["status"]["is_activated"] and not user["status"]["is_resigned"]


async def test_the_id_type_names_the_path_id_and_the_leader(oa: httpx.AsyncClient) -> None:
    by_user_id = await get_user(oa, "3ga5e4d1", user_id_type="user_id")  # 李娜, led by 张伟
    leader = await get_user(oa, "f8ca557e", user_id_type="user_id")
    by_open_id = await get_user(oa, by_user_id["open_id"])  # open_id is Feishu's default
    assert by_open_id["employee_no"] == "E1002"
    assert by_open_id["leader_user_id"] == leader["open_id"]
    by_union_id = await get_user(oa, by_user_id["union_id"], user_id_type="union_id")
    assert by_union_id["leader_user_id"] == leader["union_id"]


async def test_departments_default_to_open_department_ids(oa: httpx.AsyncClient) -> None:
    default = await get_user(oa, "f8ca557e", user_id_type="user_id")
    plain = await get_user(
        oa, "f8ca557e", user_id_type="user_id", department_id_type="department_id"
    )
    assert default["department_ids"][0].startswith("od-")
    assert plain["department_ids"] == [department("销售部").code]


async def test_unknown_users_and_bad_id_types_answer_feishu_codes(oa: httpx.AsyncClient) -> None:
    unknown = await oa.get(f"{USERS}/nobody", params={"user_id_type": "user_id"})
    assert (unknown.status_code, unknown.json()["code"]) == (400, 41050)
    by_wrong_type = await oa.get(f"{USERS}/f8ca557e")  # a user_id read as an open_id
    assert by_wrong_type.json()["code"] == 41050
    bad_type = await oa.get(f"{USERS}/f8ca557e", params={"user_id_type": "email"})
    assert (bad_type.status_code, bad_type.json()["code"]) == (400, 99992402)


async def test_the_directory_needs_a_tenant_token(oa: httpx.AsyncClient) -> None:
    missing = await oa.get(f"{USERS}/f8ca557e", headers={"Authorization": ""})
    assert (missing.status_code, missing.json()["code"]) == (400, 99991661)
