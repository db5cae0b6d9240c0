"""The sandbox CRM's sObject Collections: `POST|PATCH /services/data/vNN.0/composite/sobjects`.

As Salesforce documents it (API v42.0+): one API call creates (POST) or updates (PATCH, each
record carries its `Id`) up to 200 records, each with `attributes.type`, in list order. The
answer is 200 with one SaveResult per record, in request order: `{"id", "success", "errors":
[{"statusCode", "message", "fields"}]}`. `allOrNone: true` rolls every write back when one record
fails (the others answer ALL_OR_NONE_OPERATION_ROLLED_BACK); false keeps each success.
"""

from collections.abc import Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from bizbus.deploy.sandbox.crm.errors import SalesforceError, json_response
from bizbus.deploy.sandbox.crm.ids import InvalidId, normalize_id
from bizbus.deploy.sandbox.crm.objects import ObjectDef, find_object
from bizbus.deploy.sandbox.store import SandboxStore

__all__ = ["MAX_RECORDS", "MIN_VERSION", "SaveOne", "run_collection"]

MAX_RECORDS = 200
MIN_VERSION = 42
_ROLLED_BACK = {
    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "message": "Record rolled back because not all records were valid and the request was "
    "using AllOrNone header",
    "fields": [],
}

SaveOne = Callable[[ObjectDef, dict[str, Any], str | None], str]
"""Writes one record inside the caller's transaction: (object, fields, Id or None) → its id."""


class _RollBack(Exception):
    """Raised inside the transaction so that an allOrNone request keeps none of its writes."""


def _records(raw: bytes) -> tuple[list[Any], bool]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise SalesforceError(400, "JSON_PARSER_ERROR", "the body is not JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("records"), list):
        raise SalesforceError(400, "JSON_PARSER_ERROR", "records is required")
    records = body["records"]
    if not records:
        raise SalesforceError(400, "INVALID_FIELD", "records cannot be empty")
    if len(records) > MAX_RECORDS:
        raise SalesforceError(
            400,
            "EXCEEDED_ID_LIMIT",
            f"record limit reached. cannot submit more than {MAX_RECORDS} records into this call",
        )
    return records, bool(body.get("allOrNone", False))


def _one(record: Any, *, updating: bool) -> tuple[ObjectDef, dict[str, Any], str | None]:
    """Return a record's object, its fields and its Id, or raise its own error."""
    if not isinstance(record, dict):
        raise SalesforceError(400, "JSON_PARSER_ERROR", "a record must be a JSON object")
    attrs = record.get("attributes")
    type_name = attrs.get("type") if isinstance(attrs, dict) else None
    obj = find_object(type_name) if isinstance(type_name, str) else None
    if obj is None:
        raise SalesforceError(400, "INVALID_TYPE", "attributes.type is missing or unknown")
    fields = {k: v for k, v in record.items() if k != "attributes" and k.lower() != "id"}
    raw_id = next((v for k, v in record.items() if k.lower() == "id"), None)
    if not updating:
        if raw_id is not None:
            raise SalesforceError(400, "INVALID_FIELD", "cannot specify Id in an insert call")
        return obj, fields, None
    if not isinstance(raw_id, str):
        raise SalesforceError(400, "MISSING_ARGUMENT", "Id not specified in an update call")
    try:
        record_id = normalize_id(raw_id)
    except InvalidId:
        raise SalesforceError(400, "MALFORMED_ID", f"invalid id: {raw_id}", ["Id"]) from None
    if record_id[:3] != obj.key_prefix:
        raise SalesforceError(400, "MALFORMED_ID", f"{raw_id} is not a {obj.name} id", ["Id"])
    return obj, fields, record_id


def _failed(record_id: str | None, error: SalesforceError) -> dict[str, Any]:
    detail = {"statusCode": error.error_code, "message": error.message, "fields": error.fields}
    return {"id": record_id, "success": False, "errors": [detail]}


async def run_collection(
    request: Request, version: str, store: SandboxStore, save: SaveOne
) -> Response:
    """Create (POST) or update (PATCH) up to 200 records in one call; answer SaveResults."""
    if int(version.split(".")[0]) < MIN_VERSION:
        raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")
    updating = request.method == "PATCH"
    records, all_or_none = _records(await request.body())
    results: list[dict[str, Any]] = []
    try:
        with store.transaction() as db:
            for index, record in enumerate(records):
                given = record.get("id") or record.get("Id") if isinstance(record, dict) else None
                db.execute(f"SAVEPOINT r{index}")
                try:
                    obj, fields, record_id = _one(record, updating=updating)
                    saved = save(obj, fields, record_id)
                except SalesforceError as error:
                    db.execute(f"ROLLBACK TO r{index}")
                    results.append(_failed(given if isinstance(given, str) else None, error))
                else:
                    results.append({"id": saved, "success": True, "errors": []})
                db.execute(f"RELEASE r{index}")
            if all_or_none and not all(r["success"] for r in results):
                raise _RollBack
    except _RollBack:
        results = [
            r if not r["success"]
            else {"id": r["id"] if updating else None, "success": False, "errors": [_ROLLED_BACK]}
            for r in results
        ]  # fmt: skip
    return json_response(results)
