"""FeishuConnector files approval instances: typed form, one definition read, uuid conflicts."""

from typing import Any

import httpx
import orjson
import pytest

from bizbus.connectors.feishu import FeishuRejected
from tests.unit.test_connector_feishu_client import CODE, FakeFeishu, connector, fail, ok

DEFINITION = orjson.dumps([
    {"id": "widget_order", "custom_id": "order", "name": "订单", "type": "input"},
    {"id": "widget_lines", "custom_id": "lines", "name": "明细", "type": "textarea"},
]).decode()  # fmt: skip
V4 = "/open-apis/approval/v4"


def api(answer_create: Any) -> Any:
    bodies: list[dict[str, Any]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return ok({"approval_name": "折扣审批", "form": DEFINITION})
        bodies.append({**orjson.loads(request.content), **dict(request.url.params)})
        return answer_create()  # type: ignore[no-any-return]

    handle.bodies = bodies  # type: ignore[attr-defined]
    return handle


async def test_an_instance_is_filed_with_the_definitions_widget_types_and_the_uuid() -> None:
    handle = api(lambda: ok({"instance_code": "I-1"}))
    fake = FakeFeishu(handle)
    async with connector(fake) as oa:
        first = await oa.create_instance(CODE, "f8ca557e", {"order": "00000123", "lines": "1."},
                                         uuid="u-1")  # fmt: skip
        again = await oa.create_instance(CODE, "f8ca557e", {"order": "00000123", "lines": "1."},
                                         uuid="u-1")  # fmt: skip
    assert first == again == "I-1"
    assert fake.calls == [
        ("GET", f"{V4}/approvals/{CODE}"),
        ("POST", f"{V4}/instances"),
        ("POST", f"{V4}/instances"),
    ]  # fmt: skip (the definition read once)
    [body, _] = handle.bodies
    assert (body["approval_code"], body["user_id"], body["uuid"], body["user_id_type"]) == (
        CODE, "f8ca557e", "u-1", "user_id"
    )  # fmt: skip
    assert orjson.loads(body["form"]) == [
        {"id": "widget_order", "type": "input", "value": "00000123"},
        {"id": "widget_lines", "type": "textarea", "value": "1."},
    ]


async def test_a_uuid_filed_before_with_other_content_is_not_an_error() -> None:
    fake = FakeFeishu(api(lambda: fail(400, 60012, "uuid conflict")))
    async with connector(fake) as oa:
        assert await oa.create_instance(CODE, "f8ca557e", {"order": "1"}, uuid="u-1") == ""


async def test_other_refusals_reach_the_caller() -> None:
    fake = FakeFeishu(api(lambda: fail(400, 1390001, "param is invalid")))
    async with connector(fake) as oa:
        with pytest.raises(FeishuRejected) as caught:
            await oa.create_instance(CODE, "nobody", {"order": "1"}, uuid="u-1")
    assert caught.value.code == 1390001
