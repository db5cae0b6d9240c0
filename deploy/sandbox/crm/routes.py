"""HTTP routes of the sandbox CRM: Salesforce REST API `/services/data/vNN.0/...` (any NN.0).

Bearer tokens from `/services/oauth2/token`; query/queryAll with `nextRecordsUrl` paging
(`Sforce-Query-Options: batchSize=N`, 1..2000, default 2000); sObject create/get/update/delete,
get/upsert/delete by External ID; describe; limits; Composite (`crm.composite`) and sObject
Collections (`crm.collections`, up to 200 records), each one API call.
Every write is logged as an effect.
"""

from datetime import UTC
from typing import Any
from urllib.parse import unquote

import orjson
from cachetools import LRUCache
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bizbus.deploy.sandbox.app import SandboxContext
from bizbus.deploy.sandbox.crm.auth import authenticate, oauth_revoke, oauth_token
from bizbus.deploy.sandbox.crm.collections import run_collection
from bizbus.deploy.sandbox.crm.composite import run_composite
from bizbus.deploy.sandbox.crm.describe import describe, describe_global, versions
from bizbus.deploy.sandbox.crm.errors import SalesforceError, error_response, json_response
from bizbus.deploy.sandbox.crm.ids import InvalidId, make_id, normalize_id
from bizbus.deploy.sandbox.crm.objects import ObjectDef, find_object
from bizbus.deploy.sandbox.crm.query import compile_query
from bizbus.deploy.sandbox.crm.records import Actor, RecordStore, attributes, not_found
from bizbus.deploy.sandbox.crm.soql import SoqlError, parse
from bizbus.deploy.sandbox.crm.values import format_datetime, to_db

__all__ = ["CrmApi"]

_MAX_BATCH = 2000
_MAX_CURSORS = 100
_DAILY_API_LIMIT = 15000
# Upserts that update answer 200 + body from API v46.0 on, 204 No Content before.
_UPSERT_BODY_SINCE = 46


def _call_options(request: Request) -> dict[str, str]:
    header = request.headers.get("sforce-call-options", "")
    pairs = (part.strip().partition("=") for part in header.split(","))
    return {key.strip(): value.strip() for key, _, value in pairs if key.strip()}


def _batch_size(request: Request) -> int:
    options = request.headers.get("sforce-query-options", "")
    for part in options.split(","):
        key, _, value = part.strip().partition("=")
        if key.strip().lower() == "batchsize" and value.strip().isdigit():
            return max(1, min(_MAX_BATCH, int(value)))
    return _MAX_BATCH


class CrmApi:
    """The Salesforce-dialect API over one sandbox store."""

    def __init__(self, ctx: SandboxContext, records: RecordStore) -> None:
        self.ctx = ctx
        self.records = records
        self.cursors: LRUCache[str, tuple[list[dict[str, Any]], int]] = LRUCache(_MAX_CURSORS)
        self.api_calls = 0

    def routes(self) -> list[BaseRoute]:
        """Return the Starlette routes."""

        async def token(request: Request) -> Response:
            return await oauth_token(request, self.records)

        async def revoke(request: Request) -> Response:
            return await oauth_revoke(request, self.records)

        async def version_list(_: Request) -> Response:
            return json_response(versions())

        methods = ["GET", "POST", "PATCH", "DELETE", "HEAD"]
        return [
            Route("/services/oauth2/token", token, methods=["POST"]),
            Route("/services/oauth2/revoke", revoke, methods=["GET", "POST"]),
            Route("/services/data", version_list),
            Route("/services/data/", version_list),
            Route("/services/data/{version}", self.data, methods=methods),
            Route("/services/data/{version}/{rest:path}", self.data, methods=methods),
        ]

    async def data(self, request: Request) -> Response:
        """Authenticate, dispatch one `/services/data/vNN.0/...` call, shape its errors."""
        try:
            version = request.path_params["version"]
            if not (version.startswith("v") and version.endswith(".0")
                    and version[1:-2].isdigit() and 20 <= int(version[1:-2]) <= 99):  # fmt: skip
                raise not_found()
            user_id = authenticate(request, self.records)
            self.api_calls += 1
            raw = request.scope.get("raw_path", request.url.path.encode()).decode()
            parts = [unquote(p) for p in raw.split("?")[0].split("/")[4:] if p]
            response = await self.dispatch(request, version[1:], parts, user_id)
        except SalesforceError as error:
            response = error_response(error)
        except SoqlError as error:
            response = error_response(SalesforceError(400, error.error_code, error.message))
        response.headers["Sforce-Limit-Info"] = f"api-usage={self.api_calls}/{_DAILY_API_LIMIT}"
        return response

    async def dispatch(
        self, request: Request, version: str, parts: list[str], user_id: str
    ) -> Response:
        """Route a call by its path segments after the version."""
        method = request.method
        if not parts:
            names = ("sobjects", "query", "queryAll", "limits", "composite")
            return json_response({n: f"/services/data/v{version}/{n}" for n in names})
        head, rest = parts[0], parts[1:]
        if head in ("query", "queryAll") and method == "GET":
            if rest:
                return self.next_page(rest[0], version)
            return self.query(request, version, include_deleted=head == "queryAll")
        if head == "limits" and not rest:
            return self.limits()
        if head == "composite" and not rest and method == "POST":
            return await run_composite(request, version, user_id, self.dispatch)
        if head == "composite" and rest == ["sobjects"] and method in ("POST", "PATCH"):
            actor = Actor(user_id, _call_options(request).get("client"))
            return await run_collection(
                request, version, self.records.store,
                lambda obj, body, record_id: self.save_one(obj, body, record_id, actor, version),
            )  # fmt: skip
        if head != "sobjects":
            raise not_found()
        if not rest:
            return json_response(describe_global(version))
        obj = find_object(rest[0])
        if obj is None:
            raise not_found()
        actor = Actor(user_id, _call_options(request).get("client"))
        if len(rest) == 1:
            if method == "POST":
                return self.create(obj, await _body(request), actor, version)
            return json_response(describe(obj, version, full=False))
        if len(rest) == 2 and rest[1] == "describe":
            return json_response(describe(obj, version, full=True))
        if len(rest) == 2 and not (rest[1] == "Id" and method == "POST"):
            return await self.by_id(request, obj, rest[1], actor, version)
        if len(rest) in (2, 3):
            value = rest[2] if len(rest) == 3 else ""
            return await self.by_external_id(request, obj, rest[1], value, actor, version)
        raise not_found()

    # -- queries --------------------------------------------------------------------------

    def query(self, request: Request, version: str, *, include_deleted: bool) -> Response:
        """Run `q=` and answer its first page."""
        soql = request.query_params.get("q")
        if not soql:
            raise SalesforceError(400, "MALFORMED_QUERY", "A query string has to be specified")
        today = self.ctx.clock.now().astimezone(UTC).date()
        compiled = compile_query(parse(soql), today=today, include_deleted=include_deleted)
        rows = self.records.store.db.execute(compiled.sql, compiled.params).fetchall()
        if compiled.count_only:
            return json_response({"totalSize": rows[0][0], "done": True, "records": []})
        records = [compiled.shape(tuple(row), version) for row in rows]
        return self._page(records, 0, _batch_size(request), version, None)

    def next_page(self, locator: str, version: str) -> Response:
        """Answer a page of an earlier query (`/query/01g...-2000`)."""
        cursor_id, _, offset = locator.partition("-")
        cursor = self.cursors.get(cursor_id)  # a read keeps a cursor in use from expiring
        if cursor is None or not offset.isdigit():
            raise SalesforceError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        records, batch = cursor
        return self._page(records, int(offset), batch, version, cursor_id)

    def _page(
        self,
        records: list[dict[str, Any]],
        offset: int,
        batch: int,
        version: str,
        cursor_id: str | None,
    ) -> Response:
        end = offset + batch
        body: dict[str, Any] = {"totalSize": len(records), "done": end >= len(records)}
        if end < len(records):
            if cursor_id is None:
                cursor_id = make_id("01g", len(self.cursors) + self.api_calls)
                self.cursors[cursor_id] = (records, batch)
            body["nextRecordsUrl"] = f"/services/data/v{version}/query/{cursor_id}-{end}"
        elif cursor_id is not None:
            self.cursors.pop(cursor_id, None)
        body["records"] = records[offset:end]
        return json_response(body)

    def limits(self) -> Response:
        """Answer `GET /limits` (the daily API request allowance only)."""
        remaining = max(0, _DAILY_API_LIMIT - self.api_calls)
        return json_response(
            {"DailyApiRequests": {"Max": _DAILY_API_LIMIT, "Remaining": remaining}}
        )

    # -- writes ---------------------------------------------------------------------------

    def _now(self) -> str:
        return format_datetime(self.ctx.clock.now())

    def _effect(
        self, action: str, obj: ObjectDef, record_id: str, actor: Actor, body: dict[str, Any],
        version: str, key: str | None = None,
    ) -> None:  # fmt: skip
        if key is None:
            # The body's external id, else the record's own: tests find writes by external ref.
            row = self.records.row(obj, record_id) or {}
            key = next(
                (
                    f"{f.name}={source[f.name]}"
                    for source in (body, row)
                    for f in obj.external_ids
                    if source.get(f.name)
                ),
                None,
            )
        self.records.store.record_effect(
            action=action, object_name=obj.name, record_id=record_id, key=key,
            client=actor.client, detail={"fields": body, "api_version": version,
                                         "user_id": actor.user_id},
        )  # fmt: skip

    def save_one(
        self, obj: ObjectDef, body: dict[str, Any], record_id: str | None, actor: Actor,
        version: str,
    ) -> str:  # fmt: skip
        """Create (no id) or update one record inside the caller's transaction; its id."""
        _writable(obj)
        values = self.records.convert(obj, body, creating=record_id is None)
        if record_id is None:
            record_id = self.records.insert(obj, values, actor, self._now())
            self._effect("create", obj, record_id, actor, body, version)
        else:
            self.records.update(obj, record_id, values, actor, self._now())
            self._effect("update", obj, record_id, actor, body, version)
        return record_id

    def create(self, obj: ObjectDef, body: dict[str, Any], actor: Actor, version: str) -> Response:
        """Create a record: 201 `{"id", "success", "errors"}`."""
        _writable(obj)
        with self.records.store.transaction():
            values = self.records.convert(obj, body, creating=True)
            record_id = self.records.insert(obj, values, actor, self._now())
            self._effect("create", obj, record_id, actor, body, version)
        return json_response({"id": record_id, "success": True, "errors": []}, 201)

    async def by_id(
        self, request: Request, obj: ObjectDef, raw_id: str, actor: Actor, version: str
    ) -> Response:
        """GET / PATCH / DELETE one record by its id."""
        try:
            record_id = normalize_id(raw_id)
        except InvalidId:
            raise not_found() from None
        if record_id[:3] != obj.key_prefix:
            raise not_found()
        if request.method in ("GET", "HEAD"):
            return self._get(obj, record_id, request, version)
        _writable(obj)
        if request.method == "PATCH":
            body = await _body(request)
            with self.records.store.transaction():
                values = self.records.convert(obj, body, creating=False)
                self.records.update(obj, record_id, values, actor, self._now())
                self._effect("update", obj, record_id, actor, body, version)
            return Response(status_code=204)
        if request.method == "DELETE":
            with self.records.store.transaction():
                self.records.delete(obj, record_id, actor, self._now())
                self._effect("delete", obj, record_id, actor, {}, version)
            return Response(status_code=204)
        raise _not_allowed(request.method)

    def _get(self, obj: ObjectDef, record_id: str, request: Request, version: str) -> Response:
        row = self.records.row(obj, record_id)
        if row is None:
            raise not_found()
        if row["IsDeleted"]:
            raise SalesforceError(404, "ENTITY_IS_DELETED", "entity is deleted")
        record = self.records.to_json(obj, row, version)
        wanted = request.query_params.get("fields")
        if wanted:
            names = [name.strip() for name in wanted.split(",") if name.strip()]
            for name in names:
                if obj.field(name) is None:
                    raise SalesforceError(
                        400, "INVALID_FIELD",
                        f"No such column '{name}' on sobject of type {obj.name}", [name],
                    )  # fmt: skip
            keep = {"attributes"} | {f.name for n in names if (f := obj.field(n))}
            record = {k: v for k, v in record.items() if k in keep}
        return json_response(record)

    async def by_external_id(
        self, request: Request, obj: ObjectDef, field_name: str, value: str, actor: Actor,
        version: str,
    ) -> Response:  # fmt: skip
        """GET / PATCH (upsert) / DELETE by an External ID field; POST `.../Id` creates."""
        fdef = obj.field(field_name)
        if fdef is None or not (fdef.external_id or fdef.name == "Id"):
            raise SalesforceError(
                404, "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: {field_name}",
            )  # fmt: skip
        if fdef.name == "Id" and not value:
            return self.create(obj, await _body(request), actor, version)
        key_value = to_db(fdef, value)
        matches = self.records.find(obj, fdef.name, key_value)
        if len(matches) > 1:
            urls = [attributes(obj.name, rid, version)["url"] for rid in matches]
            return json_response(urls, 300)
        if request.method in ("GET", "HEAD"):
            if not matches:
                raise not_found()
            return self._get(obj, matches[0], request, version)
        _writable(obj)
        key = f"{fdef.name}={key_value}"
        if request.method == "DELETE":
            if not matches:
                raise not_found()
            with self.records.store.transaction():
                self.records.delete(obj, matches[0], actor, self._now())
                self._effect("delete", obj, matches[0], actor, {}, version, key)
            return Response(status_code=204)
        if request.method != "PATCH":
            raise _not_allowed(request.method)
        body = await _body(request)
        if any(name.lower() in (fdef.name.lower(), "id") for name in body):
            raise SalesforceError(
                400, "INVALID_FIELD",
                f"Do not specify Id or the external ID field {fdef.name} in the request body "
                "of an upsert; it is given in the URL",
                [fdef.name],
            )  # fmt: skip
        if not matches and request.query_params.get("updateOnly", "").lower() == "true":
            raise not_found()
        with self.records.store.transaction():
            if matches:
                values = self.records.convert(obj, body, creating=False)
                self.records.update(obj, matches[0], values, actor, self._now())
                self._effect("upsert-update", obj, matches[0], actor, body, version, key)
            else:
                values = self.records.convert(obj, body, creating=True)
                values[fdef.name] = key_value
                record_id = self.records.insert(obj, values, actor, self._now())
                self._effect("upsert-create", obj, record_id, actor, body, version, key)
        if not matches:
            result = {"id": record_id, "success": True, "errors": [], "created": True}
            return json_response(result, 201)
        if int(version.split(".")[0]) < _UPSERT_BODY_SINCE:
            return Response(status_code=204)
        return json_response({"id": matches[0], "success": True, "errors": [], "created": False})


def _not_allowed(method: str) -> SalesforceError:
    return SalesforceError(
        405,
        "METHOD_NOT_ALLOWED",
        f"HTTP Method '{method}' not allowed. Allowed are GET,PATCH,DELETE",
    )


def _writable(obj: ObjectDef) -> None:
    if not obj.writable:
        raise SalesforceError(
            403, "INSUFFICIENT_ACCESS_OR_READONLY", f"insufficient access rights on {obj.name}"
        )


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError as exc:
        raise SalesforceError(400, "JSON_PARSER_ERROR", f"Unexpected character: {exc}") from None
    if not isinstance(body, dict):
        raise SalesforceError(
            400, "JSON_PARSER_ERROR", "Cannot deserialize instance of sObject from a non-object"
        )
    return body
