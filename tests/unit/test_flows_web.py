"""The worker's web surface without a server: paths, token, body limit and faust's options."""

import asyncio
from unittest import mock

from aiohttp import web
from aiohttp.streams import StreamReader
from aiohttp.test_utils import make_mocked_request
from pydantic import SecretStr

from bizbus.flows.runtime.web import Access, WebSurface, read_body
from bizbus.flows.settings import RuntimeSettings

TOKEN = "s3cret-token"  # noqa: S105 - a test value
LIMIT = 4096


def surface(token: str | None = TOKEN) -> WebSurface:
    settings = RuntimeSettings(
        web_token=SecretStr(token) if token else None, webhook_max_body_bytes=LIMIT
    )
    web_surface = WebSurface(settings)
    web_surface.allow("/webhooks/feishu", Access.PUBLIC)
    web_surface.allow("/bizbus/ready/", Access.PROBE)
    web_surface.allow("/bizbus/parked-orders/", Access.PRIVATE)
    return web_surface


async def ok(request: web.Request) -> web.StreamResponse:
    return web.json_response({"served": request.path})


async def status_of(
    web_surface: WebSurface, method: str, path: str, headers: dict[str, str] | None = None
) -> int:
    request = make_mocked_request(method, path, headers=headers or {})
    response = await web_surface.middleware(request, ok)
    return response.status


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_only_registered_paths_answer_faust_views_are_404() -> None:
    web_surface = surface()
    for path in ("/", "/router/", "/table/", "/table/xref/order:801/", "/graph/", "/stats/"):
        assert await status_of(web_surface, "GET", path, bearer(TOKEN)) == 404, path
    assert await status_of(web_surface, "POST", "/webhooks/feishu") == 200


async def test_private_views_need_the_token() -> None:
    web_surface = surface()
    assert await status_of(web_surface, "GET", "/bizbus/parked-orders/") == 401
    assert await status_of(web_surface, "GET", "/bizbus/parked-orders/", bearer("nope")) == 401
    assert await status_of(web_surface, "GET", "/bizbus/parked-orders/", bearer(TOKEN)) == 200


async def test_private_views_do_not_exist_without_a_configured_token() -> None:
    web_surface = surface(token=None)
    assert await status_of(web_surface, "GET", "/bizbus/parked-orders/") == 404
    assert await status_of(web_surface, "GET", "/bizbus/parked-orders/", bearer("")) == 404
    assert await status_of(web_surface, "GET", "/bizbus/ready/") == 200  # probes still work


async def test_the_probe_is_open_and_only_the_token_makes_it_authorized() -> None:
    web_surface = surface()
    open_request = make_mocked_request("GET", "/bizbus/ready/")
    assert await status_of(web_surface, "GET", "/bizbus/ready/") == 200
    assert not web_surface.authorized(open_request)
    assert web_surface.authorized(make_mocked_request("GET", "/", headers=bearer(TOKEN)))


async def test_a_declared_long_body_is_refused_before_the_handler_runs() -> None:
    handler = mock.AsyncMock()
    request = make_mocked_request(
        "POST", "/webhooks/feishu", headers={"Content-Length": str(2 * 1024 * 1024)}
    )
    response = await surface().middleware(request, handler)
    assert response.status == 413 and not response.keep_alive
    handler.assert_not_called()


def streamed(*chunks: bytes, ended: bool = True) -> StreamReader:
    protocol = mock.Mock(_reading_paused=False)
    reader = StreamReader(protocol, 2**16, loop=asyncio.get_running_loop())
    for chunk in chunks:
        reader.feed_data(chunk)
    if ended:
        reader.feed_eof()
    return reader


async def test_a_streamed_body_is_read_up_to_the_limit_only() -> None:
    short = make_mocked_request("POST", "/webhooks/feishu", payload=streamed(b"a" * 10, b"b"))
    assert await read_body(short, LIMIT) == b"a" * 10 + b"b"
    # The sender is still sending: the answer comes once the limit is passed, not at the end.
    reader = streamed(b"x" * LIMIT, b"y", ended=False)
    long = make_mocked_request("POST", "/webhooks/feishu", payload=reader)
    async with asyncio.timeout(30):  # a hang guard, not a timing
        assert await read_body(long, LIMIT) is None
    assert not reader.is_eof()


def test_faust_serves_none_of_its_own_views_and_binds_where_told() -> None:
    options = WebSurface(RuntimeSettings(web_bind="0.0.0.0", web_port=7001)).faust_options()  # noqa: S104
    assert options["web_bind"] == "0.0.0.0" and options["web_port"] == 7001  # noqa: S104
    assert not any(options[f"web_{name}_enabled"] for name in ("router", "tables", "stats",
                                                               "graph", "metrics"))  # fmt: skip
    assert options["web_application_options"]["client_max_size"] == 1024 * 1024


async def test_a_secret_path_exists_only_for_its_token() -> None:
    web_surface = surface()
    checked: list[str] = []

    async def check(token: str) -> bool:
        checked.append(token)
        return token == "right-token"  # noqa: S105 - a test value

    web_surface.allow_secret("/webhooks/odoo", check)
    assert await status_of(web_surface, "POST", "/webhooks/odoo/right-token") == 200
    for path in (
        "/webhooks/odoo/wrong",
        "/webhooks/odoo",
        "/webhooks/odoo/",
        "/webhooks/x/right-token",
    ):
        assert await status_of(web_surface, "POST", path) == 404, path
    assert checked == ["right-token", "wrong"]
    # A long body for the right token is refused by its Content-Length, never read.
    long = {"Content-Length": str(LIMIT + 1)}
    assert await status_of(web_surface, "POST", "/webhooks/odoo/right-token", long) == 413
    assert await status_of(web_surface, "POST", "/webhooks/odoo/wrong", long) == 404
