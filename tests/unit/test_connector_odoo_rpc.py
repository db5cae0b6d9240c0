"""Odoo RPC: JSON-RPC envelope, JSON-2 named args, fault mapping from recorded answers, retries."""

import asyncio
from typing import Any

import httpx
import orjson
import pytest

from bizbus.connectors.errors import (
    AuthError,
    ConfigError,
    RateLimited,
    RejectedError,
    TransientError,
)
from bizbus.connectors.odoo import OdooConnector, fault_error
from bizbus.connectors.retry import RetryPolicy
from tests.unit.test_connector_odoo_fake import KEY, FakeOdoo, fixture, settings

FAST = RetryPolicy(attempts=3, max_delay=5.0, initial=0.01, max_backoff=0.02, jitter=0.0)


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def replay(
    *answers: tuple[int, Any], log: list[dict[str, Any]] | None = None
) -> httpx.MockTransport:
    """Answer each request with the next recorded (status, body)."""
    queue = list(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        if log is not None:
            log.append({"path": request.url.path, "headers": dict(request.headers),
                        "body": orjson.loads(request.content)})  # fmt: skip
        status, body = queue.pop(0)
        headers = {"Retry-After": "2"} if status == 429 else {}
        return httpx.Response(status, json=body, headers=headers)

    return httpx.MockTransport(handler)


def connector(*answers: tuple[int, Any], **values: Any) -> tuple[OdooConnector, Sleeps]:
    sleeps = Sleeps()
    erp = OdooConnector(settings(uid=3, **values), transport=replay(*answers), retry=FAST,
                        sleep=sleeps)  # fmt: skip
    return erp, sleeps


async def test_execute_kw_envelope_carries_db_uid_key_model_method_args_kwargs() -> None:
    fake = FakeOdoo()
    fake.add("res.partner", ref="C1", name="客户")
    async with fake.connector() as erp:
        rows = await erp.search_read("res.partner", [("ref", "=", "C1")], fields=["name"], limit=1)
    assert rows == [{"id": 101, "name": "客户"}]
    auth, call = fake.bodies
    assert auth["params"] == {"service": "common", "method": "authenticate",
                              "args": ["bizbus", "bizbus", KEY, {}]}  # fmt: skip
    assert call["method"] == "call" and call["jsonrpc"] == "2.0"
    assert call["params"]["service"] == "object" and call["params"]["method"] == "execute_kw"
    kwargs = {"fields": ["name"], "limit": 1}
    assert call["params"]["args"] == [
        *("bizbus", 3, KEY, "res.partner", "search_read"),
        [[["ref", "=", "C1"]]],
        kwargs,
    ]


async def test_concurrent_first_calls_share_one_authenticate() -> None:
    fake = FakeOdoo()
    async with fake.connector() as erp:
        await asyncio.gather(*(erp.search("res.partner", []) for _ in range(20)))
    assert fake.authentications == 1


async def test_refused_authenticate_is_an_auth_error_naming_the_settings() -> None:
    erp = OdooConnector(settings(), transport=replay((200, fixture("authenticate_refused"))))
    async with erp:
        with pytest.raises(AuthError, match="BIZBUS_ERP_API_KEY") as caught:
            await erp.ping()
    assert KEY not in str(caught.value)


@pytest.mark.parametrize(
    ("name", "error", "text"),
    [
        ("access_denied", AuthError, "odoo: res.partner.search raised AccessDenied"),
        ("access_error", AuthError, "raised AccessError: Private methods"),
        ("validation_error", RejectedError, "raised ValidationError: The start date must be"),
        ("missing_error", RejectedError, "raised MissingError: Record does not exist"),
    ],
)
async def test_odoo_faults_in_a_200_map_to_the_error_tree(
    name: str, error: type[Exception], text: str
) -> None:
    erp, sleeps = connector((200, fixture(name)))
    async with erp:
        with pytest.raises(error, match=text) as caught:
            await erp.execute("res.partner", "search", [])
    assert type(caught.value) is error
    assert "\n" not in str(caught.value) and sleeps.waits == []  # first line only, no retry


def test_unknown_and_serialization_faults() -> None:
    assert type(fault_error("builtins.ValueError", "Invalid field", where="m.f")) is RejectedError
    failure = fault_error("psycopg2.errors.SerializationFailure", "", where="m.f")
    assert type(failure) is TransientError
    long = fault_error("odoo.exceptions.UserError", "x" * 500, where="m.f")
    assert len(str(long)) < 220


async def test_503_then_200_resends_a_read_once() -> None:
    erp, sleeps = connector((503, fixture("fault_503")["body"]),
                            (200, fixture("sale_order_search_read")))  # fmt: skip
    async with erp:
        rows = await erp.search_read("sale.order", [], fields=["name"])
    assert [row["name"] for row in rows] == ["S00001"] and len(sleeps.waits) == 1


async def test_a_503_on_create_is_not_resent() -> None:
    erp, sleeps = connector((503, fixture("fault_503")["body"]), (200, {"result": 7}))
    async with erp:
        with pytest.raises(TransientError, match="503"):
            await erp.create("res.partner", {"name": "x"})
    assert sleeps.waits == []


async def test_429_waits_for_retry_after() -> None:
    erp, sleeps = connector((429, fixture("fault_429")["body"]),
                            (200, {"jsonrpc": "2.0", "id": 1, "result": [1]}))  # fmt: skip
    async with erp:
        assert await erp.search("res.partner", []) == [1]
    assert sleeps.waits == [2.0]


async def test_a_lasting_429_is_rate_limited_after_bounded_tries() -> None:
    erp, sleeps = connector(*[(429, fixture("fault_429")["body"])] * 3)
    async with erp:
        with pytest.raises(RateLimited, match="gave up after 3 attempts"):
            await erp.search("res.partner", [])
    assert len(sleeps.waits) == 2


async def test_json2_sends_named_arguments_with_a_bearer_key() -> None:
    log: list[dict[str, Any]] = []
    transport = replay((200, [5]), (200, True), log=log)
    async with OdooConnector(settings(protocol="json2", uid=3), transport=transport) as erp:
        assert await erp.search("res.partner", [("ref", "=", "C1")], limit=1) == [5]
        await erp.write("res.partner", [5], {"city": "苏州"})
    assert [entry["path"] for entry in log] == ["/json/2/res.partner/search",
                                                "/json/2/res.partner/write"]  # fmt: skip
    assert log[0]["headers"]["authorization"] == f"bearer {KEY}"
    assert log[0]["headers"]["x-odoo-database"] == "bizbus"
    assert log[0]["body"] == {"domain": [["ref", "=", "C1"]], "limit": 1}
    assert log[1]["body"] == {"ids": [5], "vals": {"city": "苏州"}}


async def test_json2_errors_are_real_statuses_with_the_exception_name() -> None:
    refused = fixture("json2_401_access_denied")
    invalid = fixture("json2_422_validation_error")
    erp, sleeps = connector((refused["status"], refused["body"]),
                            (invalid["status"], invalid["body"]), protocol="json2")  # fmt: skip
    async with erp:
        with pytest.raises(AuthError, match="401 Unauthorized"):
            await erp.search("res.partner", [])
        with pytest.raises(RejectedError, match="ValidationError: The start date"):
            await erp.create("hr.leave", {})
    assert sleeps.waits == []


def test_settings_errors_name_the_variable_and_never_the_value() -> None:
    with pytest.raises(ConfigError, match="BIZBUS_ERP_API_KEY is missing: set it to") as caught:
        settings(api_key=None, password="hunter2", protocol="json2")  # noqa: S106 - a test value
    assert "hunter2" not in str(caught.value)
    with pytest.raises(ConfigError, match="BIZBUS_ERP_POLL_OVERLAP_S is invalid"):
        settings(poll_overlap_s=0.5)
    with pytest.raises(ConfigError, match="BIZBUS_ERP_BASE_URL is invalid"):
        settings(base_url="erp.example.com")


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIZBUS_ERP_PROTOCOL", "json2")
    monkeypatch.setenv("BIZBUS_ERP_TRIP_LEAVE_TYPE", "出差")
    loaded = settings()
    assert loaded.protocol == "json2" and loaded.trip_leave_type == "出差"
    assert loaded.secret().get_secret_value() == KEY
