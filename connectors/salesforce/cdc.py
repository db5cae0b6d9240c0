"""Salesforce Change Data Capture over the Pub/Sub API: change events in, source records out.

System: Pub/Sub API v1 (gRPC ``eventbus.v1.PubSub``), session auth by call metadata
(``accesstoken``, ``instanceurl``, ``tenantid``) with the REST API's OAuth token. Events cost no
API calls (they count against event delivery allocations); each batch of events is turned into
the same records the polled feeds yield by ONE ``queryAll`` per object for the batch's record
ids (events carry only changed fields, the raw feed carries whole rows; several changes of a
record in one batch are one read). ``GAP_*`` events with record ids are read the same way; a
``GAP_OVERFLOW`` names objects whose changes must be caught up by a poll. An expired replay id
raises ``ReplayExpired``: catch up by polling, then subscribe from the tip.
"""

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import grpc

from bizbus.connectors.base import SourceRecord
from bizbus.connectors.errors import (
    AuthError,
    ConfigError,
    ConnectorError,
    CursorExpired,
    TransientError,
)
from bizbus.connectors.salesforce.cdc_events import ChangeHeader, SchemaCache, client_of
from bizbus.connectors.salesforce.client import IdentityClientCredentials
from bizbus.connectors.salesforce.objects import spec_for
from bizbus.connectors.salesforce.pubsub import pubsub_api_pb2 as pb
from bizbus.connectors.salesforce.pubsub import pubsub_api_pb2_grpc as pb_grpc
from bizbus.connectors.salesforce.soql import format_soql, select
from bizbus.connectors.salesforce.source import attach_order_items, to_record

if TYPE_CHECKING:
    from bizbus.connectors.salesforce.connector import SalesforceConnector

__all__ = ["ChangeBatch", "ChangeStream", "ReplayExpired"]

_IN_CHUNK = 100  # ids per "Id IN (...)": keeps the query URL far below Salesforce's 16 KB
_CORRUPTED = "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted"
_TRANSIENT = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL,
              grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED,
              grpc.StatusCode.UNKNOWN, grpc.StatusCode.ABORTED}  # fmt: skip


class ReplayExpired(CursorExpired):
    """The stored replay id is outside the retention window: catch up by polling instead."""


@dataclass(frozen=True, slots=True)
class ChangeBatch:
    """What one Pub/Sub response brought.

    Attributes:
        records: The changed records, read whole, in event order (one per record).
        replay_id: Store as the feed's cursor once ``records`` are safely published.
        catch_up: Objects whose changes the events could not list (poll them now).
        events: How many change events the batch held (echoes and other objects included).
    """

    records: list[SourceRecord]
    replay_id: bytes
    catch_up: frozenset[str] = field(default_factory=frozenset)
    events: int = 0


def _channel(url: str) -> grpc.aio.Channel:
    host = url.split("://", 1)[1]
    if url.startswith("https://"):
        return grpc.aio.secure_channel(host, grpc.ssl_channel_credentials())
    return grpc.aio.insecure_channel(host)


def _error(error: grpc.aio.AioRpcError) -> ConnectorError:
    trailers = {str(k): str(v) for k, v in (error.trailing_metadata() or ())}
    code = trailers.get("error-code", "")
    text = f"salesforce pubsub: {error.code().name} {code}".rstrip()
    if code == _CORRUPTED:
        return ReplayExpired(text, system="crm")
    if error.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
        return AuthError(text, system="crm")
    if error.code() in _TRANSIENT:
        return TransientError(text, system="crm")
    return ConnectorError(text, system="crm")


class ChangeStream:
    """One subscription to the CRM's change events, read as batches of source records.

    Args:
        connector: The CRM connector (settings, token and the REST reads).
        entities: Objects whose changes become records (others are counted, then dropped).
    """

    def __init__(self, connector: "SalesforceConnector", entities: Sequence[str]) -> None:
        settings = connector.settings
        if not settings.pubsub_url:
            raise ConfigError("BIZBUS_CRM_PUBSUB_URL is empty: set the Pub/Sub API endpoint")
        self.connector = connector
        self.entities = frozenset(entities)
        self.topic = settings.pubsub_topic
        self.batch = settings.pubsub_batch
        self._channel = _channel(settings.pubsub_url)
        self._stub: Any = pb_grpc.PubSubStub(self._channel)
        self._metadata: tuple[tuple[str, str], ...] = ()
        self.schemas = SchemaCache(self._schema_json)

    async def aclose(self) -> None:
        """Close the gRPC channel."""
        await self._channel.close()

    async def _login(self, *, fresh: bool = False) -> None:
        connector, provider = self.connector, self.connector.token
        if provider is None:
            raise ConfigError("salesforce pubsub: the connector has no credentials")
        token = await provider.get(connector.client)
        if fresh:
            provider.invalidate(token)
            token = await provider.get(connector.client)
        org = provider.org_id if isinstance(provider, IdentityClientCredentials) else None
        if not org:
            raise ConfigError("salesforce pubsub: the token response named no org id (tenantid)")
        instance = token.instance_url or connector.settings.base_url
        self._metadata = (("accesstoken", token.value), ("instanceurl", instance),
                          ("tenantid", org))  # fmt: skip

    async def _schema_json(self, schema_id: str) -> str:
        info = await self._stub.GetSchema(
            pb.SchemaRequest(schema_id=schema_id), metadata=self._metadata
        )
        return str(info.schema_json)

    async def batches(self, replay_id: bytes | None) -> AsyncIterator[ChangeBatch]:
        """Subscribe after ``replay_id`` (None: from the tip) and yield each response's batch.

        Asks for ``pubsub_batch`` events, and for as many more as each batch held once the
        caller takes the next one (flow control follows the caller's pace). Keepalives yield
        an empty batch carrying the latest replay id.

        Raises:
            ReplayExpired: ``replay_id`` is outside the retention window.
            AuthError: The token was refused twice.
            TransientError: The stream broke (resubscribe from the last stored replay id).
        """
        for attempt in (0, 1):
            await self._login(fresh=attempt == 1)
            try:
                async for batch in self._subscribe(replay_id):
                    yield batch
                    if batch.events:
                        replay_id = batch.replay_id
                return
            except grpc.aio.AioRpcError as error:
                failure = _error(error)
                if not isinstance(failure, AuthError) or attempt == 1:
                    raise failure from None

    async def _subscribe(self, replay_id: bytes | None) -> AsyncIterator[ChangeBatch]:
        first = pb.FetchRequest(topic_name=self.topic, num_requested=self.batch)
        if replay_id:
            first.replay_preset = pb.CUSTOM
            first.replay_id = replay_id
        call = self._stub.Subscribe(metadata=self._metadata)
        try:
            await call.write(first)
            while True:
                response = await call.read()
                if response is grpc.aio.EOF:
                    return
                batch = await self._batch(response)
                yield batch
                if response.events:
                    await call.write(pb.FetchRequest(num_requested=len(response.events)))
        finally:
            call.cancel()

    async def _batch(self, response: Any) -> ChangeBatch:
        changes: list[tuple[ChangeHeader, str]] = []
        catch_up: set[str] = set()
        for event in response.events:
            header, _ = await self.schemas.decode(event.event.schema_id, event.event.payload)
            if header.entity not in self.entities:
                continue
            if header.overflow or not header.record_ids:
                catch_up.add(header.entity)
            changes += [(header, record_id) for record_id in header.record_ids]
        records = await self._read(changes)
        replay = bytes(response.events[-1].replay_id if response.events else b"")
        return ChangeBatch(
            records, replay or bytes(response.latest_replay_id), frozenset(catch_up),
            len(response.events),
        )  # fmt: skip

    async def _read(self, changes: list[tuple[ChangeHeader, str]]) -> list[SourceRecord]:
        """Read each changed record once, by one query per object (and chunk of ids)."""
        latest: dict[str, ChangeHeader] = {}
        by_entity: dict[str, list[str]] = {}
        for header, record_id in changes:
            if record_id not in latest:
                by_entity.setdefault(header.entity, []).append(record_id)
            latest[record_id] = header
        rows: dict[str, dict[str, Any]] = {}
        echo_field = self.connector.settings.echo_field
        for entity, ids in by_entity.items():
            spec = spec_for(entity)
            for start in range(0, len(ids), _IN_CHUNK):
                chunk = ids[start : start + _IN_CHUNK]
                soql = select(entity, spec.feed_fields(echo_field),
                              where=format_soql("Id IN {ids}", ids=chunk))  # fmt: skip
                found = await self.connector.query(soql, include_deleted=True)
                if entity == "Order" and found:
                    await attach_order_items(self.connector, found)
                rows.update({str(row["Id"]): row for row in found})
        records = []
        for header, record_id in changes:
            row = rows.pop(record_id, None)
            if row is None:
                continue  # read already (an earlier event of this batch) or purged since
            spec = spec_for(header.entity)
            hint = self.connector.echo_hint(row) or client_of(latest[record_id].origin)
            records.append(to_record(spec, row, hint))
        return records
