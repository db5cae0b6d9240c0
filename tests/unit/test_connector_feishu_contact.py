"""FeishuConnector.get_user over httpx.MockTransport: the request, the parse, Feishu's codes."""

import httpx
import pytest

from bizbus.connectors.errors import SchemaError
from bizbus.connectors.feishu import USER_NOT_VISIBLE, FeishuRejected, FeishuUser
from tests.unit.test_connector_feishu_client import FakeFeishu, Sleeps, connector, fail, ok

ZHANG_WEI = {
    "user_id": "f8ca557e", "open_id": "ou_99e1a581b36ecc4862cbfbce473f1234",
    "union_id": "on_d4a2c2b3e2f3c7e0b7f6a5d4c3b2a1f0", "name": "张伟", "en_name": "Wei Zhang",
    "email": "zw@example.com", "enterprise_email": "zhang.wei@hengli-demo.cn",
    "employee_no": "E1001", "leader_user_id": "5d9bd9a1", "department_ids": ["od-8ec3"],
    "status": {"is_activated": True, "is_resigned": False},
}  # fmt: skip


async def test_a_user_is_read_by_user_id_with_the_enterprise_mail_first() -> None:
    seen: list[httpx.Request] = []

    def api(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return ok({"user": ZHANG_WEI})

    async with connector(FakeFeishu(api)) as oa:
        user = await oa.get_user("f8ca557e")
    assert user == FeishuUser(
        user_id="f8ca557e", open_id="ou_99e1a581b36ecc4862cbfbce473f1234", name="张伟",
        email="zhang.wei@hengli-demo.cn", employee_no="E1001", leader_user_id="5d9bd9a1",
    )  # fmt: skip
    [request] = seen
    assert request.url.path == "/open-apis/contact/v3/users/f8ca557e"
    assert dict(request.url.params) == {"user_id_type": "user_id"}
    assert request.headers["authorization"] == "Bearer t-1"


async def test_open_ids_are_asked_for_and_missing_fields_read_as_none() -> None:
    bare = {"open_id": "ou_1", "name": "李娜", "email": "li.na@hengli-demo.cn", "employee_no": ""}
    fake = FakeFeishu(lambda r: ok({"user": bare}))
    async with connector(fake) as oa:
        user = await oa.get_user("ou_1", id_type="open_id")
    assert user == FeishuUser(
        user_id=None, open_id="ou_1", name="李娜", email="li.na@hengli-demo.cn",
        employee_no=None, leader_user_id=None,
    )  # fmt: skip


async def test_an_unknown_user_is_rejected_with_41050_and_not_retried() -> None:
    fake = FakeFeishu(lambda r: fail(400, USER_NOT_VISIBLE, "no user authority error"))
    async with connector(fake) as oa:
        with pytest.raises(FeishuRejected) as caught:
            await oa.get_user("00000000")
    assert caught.value.code == 41050
    assert len(fake.calls) == 1


async def test_a_busy_directory_is_asked_again() -> None:
    answers = iter([fail(503, 1395001), ok({"user": ZHANG_WEI})])
    fake = FakeFeishu(lambda r: next(answers))
    sleeps = Sleeps()
    async with connector(fake, sleeps) as oa:
        user = await oa.get_user("f8ca557e")
    assert user.employee_no == "E1001"
    assert len(fake.calls) == 2 and len(sleeps.waits) == 1


@pytest.mark.parametrize("data", [{}, {"user": {"user_id": "f8ca557e", "name": " "}}])
async def test_an_answer_without_a_named_user_is_a_schema_error(data: dict[str, object]) -> None:
    async with connector(FakeFeishu(lambda r: ok(data))) as oa:
        with pytest.raises(SchemaError):
            await oa.get_user("f8ca557e")


async def test_an_unknown_id_type_is_refused_before_any_call() -> None:
    fake = FakeFeishu(lambda r: ok({"user": ZHANG_WEI}))
    async with connector(fake) as oa:
        with pytest.raises(ValueError, match="id_type"):
            await oa.get_user("zhang.wei@hengli-demo.cn", id_type="email")
    assert fake.calls == []
