"""FeishuConnector over httpx.MockTransport: code table, token refresh, subscribe, catch-up."""

import base64
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from bizbus.connectors.base import Cursor
from bizbus.connectors.errors import (
    AuthError,
    ConfigError,
    RateLimited,
    SchemaError,
    TransientError,
)
from bizbus.connectors.feishu import FeishuConnector, FeishuRejected, FeishuSettings
from bizbus.connectors.retry import RetryPolicy
from bizbus.connectors.settings import load_settings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "feishu"
CODE = "7C468A54-8745-2245-9675-08B7C63E7A85"
TOKEN_PATH = "/open-apis/auth/v3/tenant_access_token/internal"  # noqa: S105 - a URL path
FAST = RetryPolicy(attempts=3, max_delay=5.0, initial=0.01, max_backoff=0.05, jitter=0.0)
Handler = Callable[[httpx.Request], httpx.Response]


def fixture(name: str) -> Any:
    return orjson.loads((FIXTURES / name).read_bytes())


def ok(data: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json={"code": 0, "msg": "success", "data": data})


def fail(status: int, code: int, msg: str = "error", **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"code": code, "msg": msg}, headers=headers)


class FakeFeishu:
    """Token endpoint + a scripted API; records (method, path) of each call."""

    def __init__(self, api: Handler) -> None:
        self.api = api
        self.calls: list[tuple[str, str]] = []
        self.tokens = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == TOKEN_PATH:
            self.tokens += 1
            return httpx.Response(
                200, json={"code": 0, "tenant_access_token": f"t-{self.tokens}", "expire": 7200}
            )
        self.calls.append((request.method, request.url.path))
        return self.api(request)


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def settings(**values: Any) -> FeishuSettings:
    base = {
        "base_url": "https://open.feishu.test",
        "app_id": "cli_test",
        "app_secret": "app-secret-value",
        "encrypt_key": "k",
        "verification_token": "v",
        "approval_codes": CODE,
        "rate_per_s": None,
    }
    return load_settings(FeishuSettings, **{**base, **values})


def connector(fake: FakeFeishu, sleeps: Sleeps | None = None, **values: Any) -> FeishuConnector:
    return FeishuConnector(
        settings(**values),
        transport=httpx.MockTransport(fake),
        retry=FAST,
        sleep=sleeps or Sleeps(),
    )


# -- the code table -------------------------------------------------------------------------


async def test_a_non_zero_code_with_http_200_is_an_error_naming_code_and_msg() -> None:
    fake = FakeFeishu(lambda r: fail(200, 1390002, "approval code not found"))
    async with connector(fake) as oa:
        with pytest.raises(FeishuRejected, match="code 1390002: approval code not found") as e:
            await oa.get_approval(CODE)
    assert e.value.code == 1390002 and fake.calls == [
        ("GET", f"/open-apis/approval/v4/approvals/{CODE}")
    ]


async def test_quoted_values_and_emails_are_cut_from_messages() -> None:
    msg = "param is invalid: user 'f8ca557e' (zhang.wei@hengli-demo.cn) not found"
    fake = FakeFeishu(lambda r: fail(400, 1390001, msg))
    async with connector(fake) as oa:
        with pytest.raises(FeishuRejected) as caught:
            await oa.get_instance("X")
    text = str(caught.value)
    assert "f8ca557e" not in text and "zhang.wei" not in text and "code 1390001" in text


async def test_an_invalid_token_is_refreshed_once_then_the_call_succeeds() -> None:
    recorded = fixture("error_invalid_token.json")
    answers = [httpx.Response(recorded["status"], json=recorded["body"]), ok({"status": "ACTIVE"})]
    fake = FakeFeishu(lambda r: answers.pop(0))
    async with connector(fake) as oa:
        await oa.ping()
    assert fake.tokens == 2 and len(fake.calls) == 2


async def test_a_token_refused_after_refresh_is_an_auth_error_without_a_storm() -> None:
    fake = FakeFeishu(lambda r: fail(400, 99991663, "Invalid access token"))
    async with connector(fake) as oa:
        with pytest.raises(AuthError, match="99991663"):
            await oa.ping()
    assert fake.tokens == 2 and len(fake.calls) == 2


async def test_a_refused_app_secret_is_an_auth_error_after_one_token_call() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return fail(400, 10014, "app secret invalid")

    async with FeishuConnector(
        settings(), transport=httpx.MockTransport(handler), retry=FAST, sleep=Sleeps()
    ) as oa:
        with pytest.raises(AuthError) as caught:
            await oa.ping()
    assert "app-secret-value" not in str(caught.value)


async def test_rate_limit_code_waits_for_retry_after() -> None:
    answers = [fail(429, 99991400, "request trigger frequency limit", **{"Retry-After": "2"})]
    fake = FakeFeishu(lambda r: answers.pop(0) if answers else ok({}))
    sleeps = Sleeps()
    async with connector(fake, sleeps) as oa:
        await oa.ping()
    assert sleeps.waits == [2.0] and len(fake.calls) == 2


async def test_rate_limit_reset_header_is_used_without_retry_after() -> None:
    answers = [fail(200, 99991400, "limit", **{"x-ogw-ratelimit-reset": "3"})]
    fake = FakeFeishu(lambda r: answers.pop(0) if answers else ok({}))
    sleeps = Sleeps()
    async with connector(fake, sleeps) as oa:
        await oa.ping()
    assert sleeps.waits == [3.0]


async def test_server_busy_code_is_retried_then_gives_up_with_a_transient_error() -> None:
    fake = FakeFeishu(lambda r: fail(500, 1395001, "There have been some errors"))
    async with connector(fake) as oa:
        with pytest.raises(TransientError, match="gave up after 3 attempts") as caught:
            await oa.get_instance("X")
    assert not isinstance(caught.value, RateLimited) and len(fake.calls) == 3


async def test_a_non_json_5xx_falls_back_to_the_status_table() -> None:
    answers = [httpx.Response(502, text="<html>bad gateway</html>")]
    fake = FakeFeishu(lambda r: answers.pop(0) if answers else ok({"status": "ACTIVE"}))
    async with connector(fake) as oa:
        await oa.ping()
    assert len(fake.calls) == 2


async def test_subscribe_is_idempotent() -> None:
    answers = [ok({}), fail(400, 1390007, "subscription existed")]
    fake = FakeFeishu(lambda r: answers.pop(0))
    async with connector(fake) as oa:
        assert await oa.subscribe_all() == [CODE]
        assert await oa.subscribe_all() == []


# -- catch-up -------------------------------------------------------------------------------


def ms(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1000))


class Instances:
    """A list API with two-code pages and details keyed by code."""

    def __init__(
        self, details: dict[str, dict[str, Any]], *, vanished: tuple[str, ...] = ()
    ) -> None:
        self.details = details
        self.listed = [*details, *vanished]
        self.lists: list[dict[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/instances"):
            params = dict(request.url.params)
            self.lists.append(params)
            codes = self.listed
            offset = int(base64.b64decode(params.get("page_token", "MA==")))
            page: dict[str, Any] = {"instance_code_list": codes[offset : offset + 2]}
            if offset + 2 < len(codes):
                page |= {
                    "has_more": True,
                    "page_token": base64.b64encode(b"%d" % (offset + 2)).decode(),
                }
            return ok(page)
        code = path.rsplit("/", 1)[-1]
        if code not in self.details:
            return fail(400, 1390003, "instance code not found")
        return ok(self.details[code])


def detail(code: str, started: datetime, ended: datetime | None, status: str) -> dict[str, Any]:
    recorded = fixture("instance_detail_approved.json")["data"]
    return {**recorded, "instance_code": code, "status": status, "start_time": ms(started),
            "end_time": ms(ended) if ended else "0"}  # fmt: skip


async def test_catch_up_pages_through_lists_and_emits_in_cursor_order() -> None:
    t0 = datetime.now(UTC) - timedelta(hours=2)
    api = Instances({
        "C": detail("C", t0, t0 + timedelta(minutes=30), "APPROVED"),
        "A": detail("A", t0 + timedelta(minutes=5), None, "PENDING"),
        "B": detail("B", t0 + timedelta(minutes=1), t0 + timedelta(minutes=30), "REJECTED"),
    })  # fmt: skip
    async with connector(FakeFeishu(api)) as oa:
        records = [r async for r in oa.changes("approval_instance", None)]
    assert [(r.id, r.payload["status"]) for r in records] == [
        ("A", "PENDING"), ("B", "REJECTED"), ("C", "APPROVED"),
    ]  # fmt: skip
    assert [r.cursor for r in records] == sorted(r.cursor for r in records)
    assert records[1].cursor == Cursor(
        datetime.fromtimestamp(int(ms(t0 + timedelta(minutes=30))) / 1000, UTC), "B"
    )
    assert records[0].payload["detail"]["instance_code"] == "A"
    assert len(api.lists) == 2 and api.lists[1]["page_token"]
    assert api.lists[0]["approval_code"] == CODE and api.lists[0]["page_size"] == "100"


async def test_catch_up_resumes_after_a_cursor_and_skips_vanished_instances() -> None:
    t0 = datetime.now(UTC) - timedelta(hours=1)
    api = Instances({
        "OLD": detail("OLD", t0, t0 + timedelta(minutes=1), "APPROVED"),
        "NEW": detail("NEW", t0, t0 + timedelta(minutes=20), "APPROVED"),
    }, vanished=("GONE",))  # fmt: skip  # listed, then deleted before its detail was read
    since = Cursor(t0 + timedelta(minutes=1), "OLD")
    fake = FakeFeishu(api)
    async with connector(fake, catchup_overlap_s=0) as oa:
        records = [r async for r in oa.changes("approval_instance", since)]
    assert [r.id for r in records] == ["NEW"]
    assert ("GET", "/open-apis/approval/v4/instances/GONE") in fake.calls
    start = int(api.lists[0]["start_time"])
    assert start == int((since.modified - timedelta(days=7)).timestamp() * 1000)


async def test_catch_up_emits_an_instance_again_when_its_detail_changed_in_place() -> None:
    t0 = datetime.now(UTC) - timedelta(hours=1)
    api = Instances({"A": detail("A", t0, None, "PENDING")})
    async with connector(FakeFeishu(api)) as oa:
        [first] = [r async for r in oa.changes("approval_instance", None)]
        since = Cursor.from_text(first.cursor.to_text())  # as the poller stores it
        assert [r async for r in oa.changes("approval_instance", since)] == []
        # A first approver passed it: the instance is still pending, its position unchanged.
        api.details["A"] = {**api.details["A"], "comment_list": [{"comment": "同意"}]}
        [again] = [r async for r in oa.changes("approval_instance", since)]
        assert again.payload["detail"]["comment_list"] == [{"comment": "同意"}]
        assert again.cursor == first.cursor and again.cursor.version != first.cursor.version
        assert [r async for r in oa.changes("approval_instance", again.cursor)] == []


async def test_catch_up_cursors_never_move_back_for_an_instance_found_late() -> None:
    t0 = datetime.now(UTC) - timedelta(hours=1)
    api = Instances({"B": detail("B", t0, t0 + timedelta(minutes=20), "APPROVED")})
    async with connector(FakeFeishu(api)) as oa:
        [first] = [r async for r in oa.changes("approval_instance", None)]
        # Ended two minutes before B, inside the overlap, but listed only now.
        api.details["C"] = detail("C", t0, t0 + timedelta(minutes=18), "APPROVED")
        api.listed.append("C")
        late = [r async for r in oa.changes("approval_instance", first.cursor)]
    assert [r.id for r in late] == ["C"]
    assert late[0].modified_at < first.cursor.modified
    assert late[0].cursor == first.cursor  # committing it must not move the feed backwards


async def test_catch_up_of_an_unknown_entity_is_a_schema_error() -> None:
    async with connector(FakeFeishu(lambda r: ok({}))) as oa:
        with pytest.raises(SchemaError, match="approval_trip"):
            async for _ in oa.changes("approval_trip", None):
                pass


async def test_detail_of_uses_the_carried_detail_or_fetches_it() -> None:
    recorded = fixture("instance_detail_approved.json")
    fake = FakeFeishu(lambda r: httpx.Response(200, json=recorded))
    t0 = datetime.now(UTC) - timedelta(hours=1)
    api = Instances({"A": detail("A", t0, None, "PENDING")})
    async with connector(FakeFeishu(api)) as oa:
        [record] = [r async for r in oa.changes("approval_instance", None)]
        assert (await oa.detail_of(record)).instance_code == "A"
    async with connector(fake) as oa:
        fetched = await oa.fetch_detail(recorded["data"]["instance_code"])
    assert fetched.approval_name == "出差申请" and len(fake.calls) == 1


# -- settings -------------------------------------------------------------------------------


def test_missing_settings_name_the_variable_and_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("BIZBUS_OA_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("BIZBUS_OA_APP_ID", "cli_a")
    monkeypatch.setenv("BIZBUS_OA_APP_SECRET", "top-secret-1")
    with pytest.raises(ConfigError) as caught:
        load_settings(FeishuSettings)
    text = str(caught.value)
    assert "BIZBUS_OA_ENCRYPT_KEY is missing: set it to the Encrypt Key" in text
    assert "BIZBUS_OA_VERIFICATION_TOKEN is missing" in text
    assert "BIZBUS_OA_APPROVAL_CODES is missing" in text
    assert "top-secret-1" not in text


def test_approval_codes_read_as_comma_separated_or_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIZBUS_OA_APPROVAL_CODES", f"{CODE}, ABC-1,{CODE}")
    base = {"app_id": "cli_a", "app_secret": "s", "encrypt_key": "k", "verification_token": "v"}
    assert load_settings(FeishuSettings, **base).approval_codes == [CODE, "ABC-1"]
    monkeypatch.setenv("BIZBUS_OA_APPROVAL_CODES", f'["{CODE}"]')
    assert load_settings(FeishuSettings, **base).approval_codes == [CODE]


@pytest.mark.parametrize(
    ("values", "variable"),
    [
        ({"approval_codes": "bad code!"}, "BIZBUS_OA_APPROVAL_CODES is invalid"),
        ({"approval_codes": ""}, "BIZBUS_OA_APPROVAL_CODES is invalid"),
        ({"base_url": "open.feishu.cn"}, "BIZBUS_OA_BASE_URL is invalid"),
        ({"page_size": 500}, "BIZBUS_OA_PAGE_SIZE is invalid"),
    ],
)
def test_bad_settings_are_named(values: dict[str, Any], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        settings(**values)


def test_defaults_point_at_feishu_with_its_detail_quota() -> None:
    secrets = {"app_secret": "s", "encrypt_key": "k", "verification_token": "v"}
    loaded = load_settings(FeishuSettings, app_id="cli_a", approval_codes=CODE, **secrets)
    assert loaded.base_url == "https://open.feishu.cn"
    assert loaded.rate_per_s == 50.0
    assert [k.get_secret_value() for k in loaded.encrypt_keys()] == ["k"]
