"""Generic REST sink for systems without a dialect: idempotent PUT (or keyed POST) per record.

Auth: optional static bearer token. Every write carries an ``Idempotency-Key`` derived from the
command, so a replayed command (dead-letter replay, faust redelivery) changes nothing.
"""

import hashlib
from typing import Any, ClassVar, Literal, Self
from urllib.parse import quote

import httpx
import orjson
from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from bizbus.connectors.auth import StaticToken
from bizbus.connectors.base import ApplyResult, Outcome, SinkCommand
from bizbus.connectors.httpbase import HttpConnector
from bizbus.connectors.settings import ConnectorSettings

__all__ = ["RestSettings", "RestSink", "idempotency_key"]


class RestSettings(ConnectorSettings):
    """``BIZBUS_REST_*``: where and how the generic sink writes."""

    model_config = SettingsConfigDict(env_prefix="BIZBUS_REST_")

    token: SecretStr | None = Field(
        None, description="the API token sent as 'Authorization: Bearer' (empty: none)"
    )
    path: str = Field(
        "/{entity}/{key}", description="a path template with {entity} and {key}, e.g. /api/{key}"
    )
    method: Literal["PUT", "POST"] = Field(
        "PUT", description="PUT (upsert by key) or POST (create, deduped by Idempotency-Key)"
    )


def idempotency_key(command: SinkCommand) -> str:
    """The command's own key, or a digest of entity, external key and payload.

    The payload is part of the digest so that a later, different write to the same record is
    not mistaken for a replay of the earlier one.
    """
    if command.idempotency_key:
        return command.idempotency_key
    canonical = orjson.dumps(
        [command.entity, command.external_key, command.payload],
        option=orjson.OPT_SORT_KEYS,
        default=str,
    )
    return "bizbus-" + hashlib.sha256(canonical).hexdigest()[:40]


class RestSink(HttpConnector):
    """Writes ``SinkCommand`` payloads as JSON to ``path`` (201 created, 200/204 updated).

    An ``Idempotent-Replayed: true`` answer or a 304 counts as unchanged.

    Args:
        base_url: API root.
        path: Template with ``{entity}`` and ``{key}`` (URL-quoted).
        method: ``PUT`` or ``POST``.
        **http: Options of ``HttpConnector`` (token, timeout, limits, retry, transport, ...).
    """

    system: ClassVar[str] = "rest"

    def __init__(
        self,
        base_url: str,
        *,
        path: str = "/{entity}/{key}",
        method: Literal["PUT", "POST"] = "PUT",
        **http: Any,
    ) -> None:
        super().__init__(base_url, **http)
        self.path = path
        self.method = method

    @classmethod
    def from_settings(cls, settings: RestSettings, **overrides: Any) -> Self:
        """Build from validated settings (``overrides``: e.g. a test transport)."""
        token = StaticToken(settings.token) if settings.token is not None else None
        options: dict[str, Any] = {"token": token, **settings.http_options(), **overrides}
        return cls(settings.base_url, path=settings.path, method=settings.method, **options)

    async def apply(self, command: SinkCommand) -> ApplyResult:
        """Write one command idempotently."""
        url = self.path.format(
            entity=quote(command.entity, safe=""), key=quote(command.external_key, safe="")
        )
        response = await self.request(
            self.method,
            url,
            json=command.payload,
            headers={"Idempotency-Key": idempotency_key(command)},
            idempotent=True,  # keyed: the server dedupes a resend
        )
        return ApplyResult(outcome=_outcome(response), external_ids=_external_ids(response))


def _outcome(response: httpx.Response) -> Outcome:
    if response.status_code == 304 or response.headers.get("Idempotent-Replayed") == "true":
        return Outcome.UNCHANGED
    if response.status_code == 201:
        return Outcome.CREATED
    return Outcome.UPDATED


def _external_ids(response: httpx.Response) -> dict[str, str]:
    ids: dict[str, str] = {}
    if "Location" in response.headers:
        ids["location"] = response.headers["Location"]
    if response.content and response.headers.get("Content-Type", "").startswith("application/json"):
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            return ids
        if isinstance(body, dict) and isinstance(body.get("id"), str | int):
            ids["id"] = str(body["id"])
    return ids
