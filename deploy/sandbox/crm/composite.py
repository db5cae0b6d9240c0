"""The sandbox CRM's Composite resource: `POST /services/data/vNN.0/composite`, one API call.

As Salesforce documents it: up to 25 subrequests, at most 5 of them query operations (query,
queryAll, next page); each has `method`, `url` (a `/services/data/vNN.0/...` path), `referenceId`
and an optional `body`; `@{ref.path}` in a later url or body reads an earlier result. Answer:
`{"compositeResponse": [{"body", "httpHeaders", "httpStatusCode", "referenceId"}]}`. With
`allOrNone` a failure answers every other subrequest PROCESSING_HALTED; the sandbox rolls no
write back, so it refuses `allOrNone` with writes rather than pretend.
"""

import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson
from starlette.requests import Request
from starlette.responses import Response

from bizbus.deploy.sandbox.crm.errors import SalesforceError, error_response, json_response
from bizbus.deploy.sandbox.crm.soql import SoqlError

__all__ = ["MAX_QUERIES", "MAX_SUBREQUESTS", "run_composite"]

MAX_SUBREQUESTS = 25
MAX_QUERIES = 5
_REF = re.compile(r"@\{([A-Za-z0-9_]+)((?:\.[A-Za-z0-9_]+|\[\d+\])*)\}")
_PATH_STEP = re.compile(r"\.([A-Za-z0-9_]+)|\[(\d+)\]")
_HALTED = "The transaction was rolled back since another operation in the same transaction failed."

Dispatch = Callable[[Request, str, list[str], str], Awaitable[Response]]


def _lookup(results: dict[str, Any], ref: str, path: str) -> Any:
    if ref not in results:
        raise KeyError(ref)
    value = results[ref]
    for name, index in _PATH_STEP.findall(path):
        value = value[name] if name else value[int(index)]
    return value


def _resolve(text: str, results: dict[str, Any]) -> str:
    try:
        return _REF.sub(lambda m: str(_lookup(results, m.group(1), m.group(2))), text)
    except (KeyError, IndexError, TypeError) as exc:
        raise SalesforceError(
            400, "PROCESSING_HALTED", f"Invalid reference specified. No value for {exc}"
        ) from None


def _is_query(parts: list[str]) -> bool:
    return bool(parts) and parts[0] in ("query", "queryAll")


def _sub_request(method: str, url: str, body: Any, headers: dict[str, str]) -> Request:
    split = urlsplit(url)
    raw = orjson.dumps(body) if body is not None else b""
    scope = {
        "type": "http",
        "method": method,
        "path": unquote(split.path),
        "raw_path": split.path.encode(),
        "query_string": split.query.encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": raw, "more_body": False}

    return Request(scope, receive)


def _checked(body: Any) -> tuple[list[dict[str, Any]], bool]:
    if not isinstance(body, dict) or not isinstance(body.get("compositeRequest"), list):
        raise SalesforceError(400, "JSON_PARSER_ERROR", "compositeRequest is required")
    subs = body["compositeRequest"]
    if not subs or len(subs) > MAX_SUBREQUESTS:
        raise SalesforceError(
            400, "LIMIT_EXCEEDED", f"A composite request holds 1 to {MAX_SUBREQUESTS} subrequests"
        )
    for sub in subs:
        if not isinstance(sub, dict) or not all(
            isinstance(sub.get(k), str) for k in ("method", "url", "referenceId")
        ):
            raise SalesforceError(
                400, "JSON_PARSER_ERROR", "each subrequest needs method, url and referenceId"
            )
    return subs, bool(body.get("allOrNone", False))


def _parts(url: str, version: str) -> list[str]:
    path = urlsplit(url).path
    prefix = f"/services/data/v{version}"
    if not path.startswith(prefix):
        raise SalesforceError(
            400, "INVALID_URL", f"a subrequest's url must start with {prefix} (the call's version)"
        )
    return [unquote(p) for p in path[len(prefix) :].split("/") if p]


async def run_composite(
    request: Request, version: str, user_id: str, dispatch: Dispatch
) -> Response:
    """Run one composite request's subrequests in order and answer their results together."""
    raw = await request.body()
    try:
        subs, all_or_none = _checked(orjson.loads(raw))
    except orjson.JSONDecodeError:
        raise SalesforceError(400, "JSON_PARSER_ERROR", "the body is not JSON") from None
    parsed = [(sub, _parts(sub["url"], version)) for sub in subs]
    if sum(1 for _, parts in parsed if _is_query(parts)) > MAX_QUERIES:
        raise SalesforceError(
            400, "LIMIT_EXCEEDED", f"A composite request holds at most {MAX_QUERIES} queries"
        )
    if all_or_none and any(sub["method"].upper() != "GET" for sub, _ in parsed):
        raise SalesforceError(
            400, "NOT_SUPPORTED", "the sandbox runs allOrNone composites of reads only"
        )
    results: dict[str, Any] = {}
    answers: list[dict[str, Any]] = []
    for sub, _ in parsed:
        ref = sub["referenceId"]
        try:
            url = _resolve(sub["url"], results)
            body = sub.get("body")
            if body is not None:
                body = orjson.loads(_resolve(orjson.dumps(body).decode(), results))
            headers = {str(k): str(v) for k, v in (sub.get("httpHeaders") or {}).items()}
            inner = _sub_request(sub["method"].upper(), url, body, headers)
            response = await dispatch(inner, version, _parts(url, version), user_id)
        except SalesforceError as error:
            response = error_response(error)
        except SoqlError as error:
            response = error_response(SalesforceError(400, error.error_code, error.message))
        status = response.status_code
        content = orjson.loads(response.body) if response.body else None
        if status < 400:
            results[ref] = content
        answers.append(
            {"body": content, "httpHeaders": {}, "httpStatusCode": status, "referenceId": ref}
        )
    if all_or_none and any(a["httpStatusCode"] >= 400 for a in answers):
        halted = SalesforceError(400, "PROCESSING_HALTED", _HALTED).body()
        for answer in answers:
            if answer["httpStatusCode"] < 400:
                answer.update(body=halted, httpStatusCode=400)
    return json_response({"compositeResponse": answers})
