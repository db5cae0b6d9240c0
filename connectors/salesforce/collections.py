"""Many records in one call: sObject Collections (``/composite/sobjects``), API v42.0+.

Salesforce counts one Collections request as one API call against the daily allowance, for up
to 200 records (mixed types allowed); ``create_many``/``update_many`` send them in chunks of 200
and answer one ``SaveResult`` per record, in order. With ``all_or_none=False`` each record
succeeds or fails on its own: a record's failure is its own ``error`` (RejectedError, or
TransientError for lock contention), while a failure of the call itself (timeout, 5xx, 429,
auth) raises for every record of it. Updates (PATCH) are idempotent and resent on 5xx; creates
(POST) are not.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from bizbus.connectors.errors import ConnectorError, RejectedError, TransientError
from bizbus.connectors.httpbase import HttpConnector
from bizbus.connectors.salesforce.client import encode_json

__all__ = ["MAX_RECORDS", "SaveResult", "create_many", "update_many"]

MAX_RECORDS = 200
_JSON = {"Content-Type": "application/json"}
# Per-record codes that say "try again", not "this record is wrong".
_TRANSIENT_CODES = frozenset(
    {"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "ALL_OR_NONE_OPERATION_ROLLED_BACK"}
)


@dataclass(frozen=True, slots=True)
class SaveResult:
    """One record's answer: its id, success, and Salesforce's error codes and fields."""

    id: str | None
    success: bool
    codes: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()

    def error(self, obj: str) -> ConnectorError | None:
        """The record's own failure, classified (None: it was saved).

        Salesforce's free-text message is left out: it can quote record values.
        """
        if self.success:
            return None
        names = f" [{', '.join(self.fields)}]" if self.fields else ""
        text = f"salesforce: {obj}: {'; '.join(self.codes) or 'UNKNOWN'}{names}"
        if set(self.codes) & _TRANSIENT_CODES:
            return TransientError(text, system="salesforce")
        return RejectedError(text, system="salesforce", status_code=400)


async def create_many(
    client: HttpConnector, prefix: str, records: Sequence[tuple[str, Mapping[str, Any]]]
) -> list[SaveResult]:
    """Create ``(object, fields)`` records, 200 per call; one SaveResult each, in order."""
    bodies = [{"attributes": {"type": obj}, **fields} for obj, fields in records]
    return await _chunks(client, f"{prefix}/composite/sobjects", "POST", bodies)


async def update_many(
    client: HttpConnector,
    prefix: str,
    records: Sequence[tuple[str, str, Mapping[str, Any]]],
) -> list[SaveResult]:
    """Update ``(object, id, fields)`` records, 200 per call; one SaveResult each, in order."""
    bodies = [{"attributes": {"type": obj}, **fields, "id": rid} for obj, rid, fields in records]
    return await _chunks(client, f"{prefix}/composite/sobjects", "PATCH", bodies)


async def _chunks(
    client: HttpConnector, url: str, method: str, bodies: list[dict[str, Any]]
) -> list[SaveResult]:
    results: list[SaveResult] = []
    for start in range(0, len(bodies), MAX_RECORDS):
        chunk = bodies[start : start + MAX_RECORDS]
        content = encode_json({"allOrNone": False, "records": chunk})
        response = await client.request(method, url, content=content, headers=_JSON,
                                        idempotent=method == "PATCH")  # fmt: skip
        results += _results(response.content, len(chunk))
    return results


def _results(raw: bytes, expected: int) -> list[SaveResult]:
    try:
        answer = orjson.loads(raw)
    except orjson.JSONDecodeError:
        answer = None
    if not isinstance(answer, list) or len(answer) != expected:
        raise TransientError(
            "salesforce: collections answer of the wrong shape", system="salesforce"
        )
    return [_one(item) for item in answer]


def _one(item: Any) -> SaveResult:
    if not isinstance(item, dict):
        return SaveResult(None, False, ("UNKNOWN",))
    record_id = item.get("id")
    errors = [e for e in item.get("errors") or [] if isinstance(e, dict)]
    codes = tuple(str(e.get("statusCode") or "UNKNOWN")[:64] for e in errors)
    fields = tuple(
        dict.fromkeys(f for e in errors for f in e.get("fields") or [] if isinstance(f, str))
    )
    return SaveResult(
        record_id if isinstance(record_id, str) else None, item.get("success") is True,
        codes, fields,
    )  # fmt: skip
