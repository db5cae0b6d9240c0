"""Salesforce REST calls (API v60.0 by default): SOQL with paging, sObject CRUD, External ID upsert.

Auth: OAuth 2.0 client credentials (``SalesforceClientCredentials``), one refresh on 401. Every
request carries ``Sforce-Call-Options: client=<tag>`` so our writes are recognisable when they
come back. Limits: the org's daily API allowance; 429/503 are retried by the HTTP base.
"""

from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import quote as quote_path

import httpx
import orjson
from cachetools import LRUCache

from bizbus.connectors.auth import SalesforceClientCredentials, TokenProvider
from bizbus.connectors.errors import RejectedError, TransientError
from bizbus.connectors.httpbase import HttpConnector
from bizbus.connectors.salesforce.settings import SalesforceSettings
from bizbus.connectors.salesforce.soql import format_soql, identifier, select

__all__ = ["IdentityClientCredentials", "SalesforceClient", "UpsertResult", "encode_json"]

_CODE_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_FIND_CACHE_SIZE = 1024


class IdentityClientCredentials(SalesforceClientCredentials):
    """Client credentials that also remember the run-as user's id from the token response.

    Salesforce answers ``"id": "https://.../id/<org id>/<user id>"``; that user id is how
    echoes are recognised on an org without an echo-hint field (``LastModifiedById``).
    """

    user_id: str | None = None
    org_id: str | None = None  # the Pub/Sub API's `tenantid`

    async def _post(self, client: httpx.AsyncClient, url: str, **kwargs: Any) -> dict[str, Any]:
        body = await super()._post(client, url, **kwargs)
        identity = body.get("id")
        if isinstance(identity, str) and "/id/" in identity:
            parts = identity.rstrip("/").rsplit("/", 2)
            self.user_id = parts[-1] or None
            self.org_id = parts[-2] if len(parts) == 3 and parts[-2] else None
        return body


@dataclass(frozen=True, slots=True)
class UpsertResult:
    """What an upsert answered: ``created`` and the record id (None for a pre-v46 204).

    Attributes:
        created: True for 201 Created.
        id: The record's 18-character id, when the answer carried it.
    """

    created: bool
    id: str | None


def encode_json(payload: Mapping[str, Any]) -> bytes:
    """Encode a write body: Decimals as numbers, dates as ``YYYY-MM-DD``, non-ASCII kept."""
    return orjson.dumps(dict(payload), default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot send {type(value).__name__} to Salesforce")


class SalesforceClient(HttpConnector):
    """Low-level Salesforce REST calls on one pooled client; ``SalesforceConnector`` adds feeds.

    Args:
        base_url: The org's instance URL.
        token: Credential source (``IdentityClientCredentials`` in production).
        api_version: REST version, e.g. ``v60.0``.
        client_tag: The ``client=`` of ``Sforce-Call-Options`` sent on every request.
        **http: Options of ``HttpConnector`` (timeout, limits, retry, budget, transport, sleep).
    """

    system: ClassVar[str] = "salesforce"

    def __init__(
        self,
        base_url: str,
        *,
        token: TokenProvider | None,
        api_version: str = "v60.0",
        client_tag: str = "bizbus",
        **http: Any,
    ) -> None:
        headers = {
            "Accept": "application/json",
            "Sforce-Call-Options": f"client={client_tag}",
            **http.pop("headers", {}),
        }
        super().__init__(base_url, token=token, headers=headers, **http)
        self.api_version = api_version
        self.client_tag = client_tag
        self.prefix = f"/services/data/{api_version}"
        self._ids: LRUCache[tuple[str, str, str | bool], str] = LRUCache(_FIND_CACHE_SIZE)

    @classmethod
    def token_from_settings(cls, settings: SalesforceSettings) -> IdentityClientCredentials:
        """The client credentials provider these settings describe."""
        return IdentityClientCredentials(
            settings.resolved_token_url(), settings.client_id, client_secret=settings.client_secret
        )

    # -- error messages ------------------------------------------------------------------

    def error_detail(self, response: httpx.Response) -> str | None:
        """``Order/BizbusKey__c: INVALID_FIELD [Name]``: object, key field, codes, field names.

        Salesforce's free-text ``message`` is left out: it can quote record values.
        """
        where = _path_context(response.request.url.path)
        codes: list[str] = []
        try:
            body = response.json()
        except ValueError:
            body = None
        for error in body if isinstance(body, list) else []:
            if not isinstance(error, dict):
                continue
            code = error.get("errorCode")
            if isinstance(code, str) and code and len(code) <= 64 and set(code) <= _CODE_CHARS:
                fields = [f for f in error.get("fields") or [] if isinstance(f, str)]
                names = [f for f in fields if _is_name(f)]
                codes.append(f"{code} [{', '.join(names)}]" if names else code)
        text = "; ".join(dict.fromkeys(codes)) or None
        if where and text:
            return f"{where}: {text}"
        return where or text

    def operation_of(self, method: str, url: str) -> str:
        """``PATCH Order/ErpOrderRef__c``, ``GET query``: the method and object, never a value."""
        return f"{method} {_path_context(httpx.URL(url).path) or 'other'}"

    # -- reads ---------------------------------------------------------------------------

    async def ping(self) -> None:
        """One cheap authenticated call (the version's resource list); raises on failure."""
        await self.request("GET", self.prefix)

    async def query_pages(
        self, soql: str, *, include_deleted: bool = False, batch_size: int | None = None
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Run a SOQL query and yield its pages, following ``nextRecordsUrl``.

        Args:
            soql: The query (build it with ``soql.format_soql`` or ``soql.select``).
            include_deleted: Use ``queryAll`` (adds soft-deleted rows, ``IsDeleted = true``).
            batch_size: Ask for pages of this size (``Sforce-Query-Options``), 200 to 2000.
        """
        headers = {"Sforce-Query-Options": f"batchSize={batch_size}"} if batch_size else None
        resource = "queryAll" if include_deleted else "query"
        body = await self._json("GET", f"{self.prefix}/{resource}", params={"q": soql},
                                headers=headers)  # fmt: skip
        async for page in self.pages_from(body, headers=headers):
            yield page

    async def pages_from(
        self, body: dict[str, Any], *, headers: Mapping[str, str] | None = None
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Yield the pages of a query answer already read (e.g. in a Composite call) onward."""
        while True:
            records = body.get("records") or []
            yield [_strip(record) for record in records if isinstance(record, dict)]
            next_url = body.get("nextRecordsUrl")
            if body.get("done", True) or not isinstance(next_url, str):
                return
            body = await self._json("GET", next_url, headers=headers)

    async def query(
        self, soql: str, *, include_deleted: bool = False, batch_size: int | None = None
    ) -> list[dict[str, Any]]:
        """Run a SOQL query and return every row of every page."""
        rows: list[dict[str, Any]] = []
        async for page in self.query_pages(
            soql, include_deleted=include_deleted, batch_size=batch_size
        ):
            rows.extend(page)
        return rows

    async def count(self, soql: str) -> int:
        """Run a ``SELECT COUNT() FROM ...`` query and return the count."""
        body = await self._json("GET", f"{self.prefix}/query", params={"q": soql})
        total = body.get("totalSize")
        if not isinstance(total, int):
            raise TransientError("salesforce: query answer has no totalSize", system=self.system)
        return total

    async def get(
        self, obj: str, record_id: str, *, fields: Iterable[str] | None = None
    ) -> dict[str, Any]:
        """Read one record by id (only ``fields`` when given)."""
        params = {"fields": ",".join(identifier(f) for f in fields)} if fields else None
        return _strip(await self._json("GET", self._record_url(obj, record_id), params=params))

    async def get_by_key(
        self, obj: str, field: str, value: str, *, fields: Iterable[str] | None = None
    ) -> dict[str, Any] | None:
        """Read one record by an External ID field, or None when no record has that value.

        Raises:
            RejectedError: Several records have that value (Salesforce answers 300).
        """
        params = {"fields": ",".join(identifier(f) for f in fields)} if fields else None
        url = self._key_url(obj, field, value)
        try:
            response = await self.request("GET", url, params=params)
        except RejectedError as exc:
            if exc.status_code == 404:
                return None
            raise
        if response.status_code == 300:
            raise _several(obj, field)
        return _strip(_body(response))

    async def find_id(self, obj: str, field: str, value: str | bool) -> str | None:
        """The id of the one ``obj`` whose ``field`` equals ``value``, or None (cached when found).

        Raises:
            RejectedError: Several records match.
        """
        key = (obj, field, value)
        if (cached := self._ids.get(key)) is not None:
            return cached
        where = format_soql(f"{identifier(field)} = {{v}}", v=value)
        soql = select(obj, ["Id"], where=where, limit=2)
        rows = await self.query(soql)
        if len(rows) > 1:
            raise _several(obj, field)
        if not rows:
            return None
        found = str(rows[0]["Id"])
        self._ids[key] = found
        return found

    async def standard_pricebook_id(self) -> str | None:
        """The id of the org's standard price book (cached), or None if there is none."""
        return await self.find_id("Pricebook2", "IsStandard", True)

    # -- writes --------------------------------------------------------------------------

    async def create(self, obj: str, fields: Mapping[str, Any]) -> str:
        """Create a record and return its id (not idempotent: prefer ``upsert``)."""
        body = await self._json("POST", f"{self.prefix}/sobjects/{identifier(obj)}",
                                content=encode_json(fields), headers=_JSON)  # fmt: skip
        return str(body["id"])

    async def update(self, obj: str, record_id: str, fields: Mapping[str, Any]) -> None:
        """Update fields of one record by id (PATCH is idempotent: resent on 5xx)."""
        await self.request("PATCH", self._record_url(obj, record_id),
                           content=encode_json(fields), headers=_JSON, idempotent=True)  # fmt: skip

    async def upsert(
        self, obj: str, field: str, value: str, fields: Mapping[str, Any]
    ) -> UpsertResult:
        """Upsert by External ID: 201 created, 200 (v46+) or 204 updated.

        Raises:
            RejectedError: Several records match (300), or Salesforce refused the write.
        """
        response = await self.request("PATCH", self._key_url(obj, field, value),
                                      content=encode_json(fields), headers=_JSON,
                                      idempotent=True)  # fmt: skip
        if response.status_code == 300:
            raise _several(obj, field)
        if response.status_code == 204 or not response.content:
            return UpsertResult(created=False, id=None)
        body = _body(response)
        created = response.status_code == 201 or body.get("created") is True
        record_id = body.get("id")
        return UpsertResult(created=created, id=record_id if isinstance(record_id, str) else None)

    # -- helpers -------------------------------------------------------------------------

    def _record_url(self, obj: str, record_id: str) -> str:
        if not (record_id.isalnum() and len(record_id) in (15, 18)):
            raise RejectedError(f"salesforce: not a {obj} id", system=self.system)
        return f"{self.prefix}/sobjects/{identifier(obj)}/{record_id}"

    def _key_url(self, obj: str, field: str, value: str) -> str:
        if not value:
            raise RejectedError(f"salesforce: empty {field} for {obj}", system=self.system)
        return f"{self.prefix}/sobjects/{identifier(obj)}/{identifier(field)}/" + quote_path(
            value, safe=""
        )

    async def _json(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        return _body(await self.request(method, url, **kwargs))


_JSON = {"Content-Type": "application/json"}


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        raise TransientError(
            f"salesforce: {response.request.method} answered non-JSON", system="salesforce"
        ) from None
    if not isinstance(body, dict):
        raise TransientError("salesforce: unexpected answer shape", system="salesforce")
    return body


def _strip(record: dict[str, Any]) -> dict[str, Any]:
    """Drop ``attributes`` (type and URL) from a record and its parent relationships."""
    return {
        key: _strip(value) if isinstance(value, dict) and "attributes" in value else value
        for key, value in record.items()
        if key != "attributes"
    }


def _several(obj: str, field: str) -> RejectedError:
    return RejectedError(
        f"salesforce: several {obj} records match one {field}; merge or fix the duplicates",
        system="salesforce",
        status_code=300,
    )


def _is_name(text: str) -> bool:
    try:
        identifier(text)
    except ValueError:
        return False
    return True


def _path_context(path: str) -> str | None:
    # /services/data/v60.0/sobjects/Order/BizbusKey__c/<value>: keep object and field, never the
    # value or id (external keys may be personal data).
    parts = [part for part in path.split("/") if part]
    if len(parts) < 4 or parts[:2] != ["services", "data"]:
        return None
    resource = parts[3:]
    if resource[0] in ("query", "queryAll"):
        return resource[0]
    if resource[0] != "sobjects" or len(resource) < 2 or not _is_name(resource[1]):
        return resource[0] if _is_name(resource[0]) else None
    if len(resource) >= 4 and _is_name(resource[2]):
        return f"{resource[1]}/{resource[2]}"
    return resource[1]
