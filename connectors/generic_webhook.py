"""Generic signed-webhook source (Standard Webhooks) for systems without a dialect.

Push: the HTTP endpoint hands each delivery to ``receive`` (verify on raw bytes, parse, dedupe);
``changes(entity)`` yields the records. A full backlog answers 503 so the sender retries later.
"""

import asyncio
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Self

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from bizbus.connectors.base import Cursor, SourceRecord
from bizbus.connectors.errors import SchemaError, TransientError
from bizbus.connectors.settings import BizbusSettings
from bizbus.connectors.webhooks import ReplayCache, StandardWebhookVerifier, VerifiedWebhook

__all__ = ["Receipt", "SignedWebhookSource", "WebhookSettings"]


class WebhookSettings(BizbusSettings):
    """``BIZBUS_WEBHOOK_*``: secrets and field paths of the generic webhook source."""

    model_config = SettingsConfigDict(env_prefix="BIZBUS_WEBHOOK_")

    secret: SecretStr = Field(description="the sender's signing secret ('whsec_' + base64)")
    next_secret: SecretStr | None = Field(
        None, description="the next signing secret while rotating (empty otherwise)"
    )
    tolerance_s: float = Field(300.0, gt=0, description="the allowed clock skew in seconds")
    replay_ttl_s: float = Field(
        86_400.0, gt=0, description="seconds a delivery id is remembered for dedupe"
    )
    entity_path: str = Field("type", description="the dotted path of the entity name")
    id_path: str = Field("data.id", description="the dotted path of the record id")
    max_pending: int = Field(10_000, ge=1, description="records buffered per entity (>= 1)")


@dataclass(frozen=True, slots=True)
class Receipt:
    """How to answer the sender: ``status`` (202 queued, 200 duplicate or challenge)."""

    status: int
    record: SourceRecord | None = None


def _pick(payload: Mapping[str, Any], path: str) -> Any:
    value: Any = payload
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


class SignedWebhookSource:
    """Standard Webhooks deliveries → ``SourceRecord`` per entity.

    The entity is read at ``entity_path`` (for ``type: "order.updated"`` the entity is
    ``order``), the id at ``id_path``; the cursor is (signed timestamp, delivery id).

    Args:
        verifier: Verifies signature, window and replay.
        entity_path: Dotted path of the entity (its text before the last dot is used).
        id_path: Dotted path of the record id.
        max_pending: Records buffered per entity before answering 503.
    """

    system: ClassVar[str] = "webhook"

    def __init__(
        self,
        verifier: StandardWebhookVerifier,
        *,
        entity_path: str = "type",
        id_path: str = "data.id",
        max_pending: int = 10_000,
    ) -> None:
        self.verifier = verifier
        self.entity_path = entity_path
        self.id_path = id_path
        self.max_pending = max_pending
        self._queues: dict[str, asyncio.Queue[SourceRecord]] = {}

    @classmethod
    def from_settings(cls, settings: WebhookSettings) -> Self:
        """Build from validated settings."""
        secrets = [settings.secret, *([settings.next_secret] if settings.next_secret else [])]
        verifier = StandardWebhookVerifier(
            secrets,
            tolerance=settings.tolerance_s,
            replay=ReplayCache(settings.replay_ttl_s),
        )
        return cls(
            verifier,
            entity_path=settings.entity_path,
            id_path=settings.id_path,
            max_pending=settings.max_pending,
        )

    def _queue(self, entity: str) -> "asyncio.Queue[SourceRecord]":
        if entity not in self._queues:
            self._queues[entity] = asyncio.Queue(self.max_pending)
        return self._queues[entity]

    def receive(self, headers: Mapping[str, str], body: bytes) -> Receipt:
        """Take one delivery.

        Raises:
            RejectedError: Verification failed (answer its ``status_code``).
            SchemaError: Verified but without an entity or id (answer 400).
            TransientError: The backlog is full (answer 503; the sender retries).
        """
        verified = self.verifier.verify(headers, body)
        if verified.duplicate:
            return Receipt(status=200)
        try:
            record = self._record(verified)
            self._queue(record.entity).put_nowait(record)
        except (SchemaError, asyncio.QueueFull) as exc:
            # Forget the id so the sender's retry is not mistaken for a duplicate.
            self.verifier.replay.discard(f"id:{verified.event_id}")
            if isinstance(exc, asyncio.QueueFull):
                raise TransientError(
                    "webhook: backlog full, retry later", system=self.system, status_code=503
                ) from None
            raise
        return Receipt(status=202, record=record)

    def _record(self, verified: VerifiedWebhook) -> SourceRecord:
        kind = _pick(verified.payload, self.entity_path)
        ident = _pick(verified.payload, self.id_path)
        sent_at, event_id = verified.sent_at, verified.event_id
        if sent_at is None or event_id is None:
            raise SchemaError("webhook: delivery has no timestamp or id")
        if not isinstance(kind, str) or not kind or not isinstance(ident, str | int):
            raise SchemaError(
                f"webhook: payload has no entity at '{self.entity_path}' "
                f"or no id at '{self.id_path}'"
            )
        entity = kind.rpartition(".")[0] or kind
        stamp = verified.payload.get("timestamp")
        try:
            modified = datetime.fromisoformat(stamp) if isinstance(stamp, str) else None
        except ValueError:
            modified = None
        if modified is None or modified.tzinfo is None:
            modified = sent_at
        return SourceRecord(
            entity=entity,
            id=str(ident),
            cursor=Cursor(sent_at, event_id),
            payload=verified.payload,
            modified_at=modified,
        )

    async def changes(
        self, entity: str, since: Cursor | None = None
    ) -> AsyncGenerator[SourceRecord, None]:
        """Yield records of ``entity`` as they arrive (forever).

        A push source cannot rewind: ``since`` only drops records at or before it; catching
        up after an outage is the sender's retry schedule.
        """
        queue = self._queue(entity)
        while True:
            record = await queue.get()
            if since is None or record.cursor > since:
                yield record
