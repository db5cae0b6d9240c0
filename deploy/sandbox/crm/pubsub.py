"""The sandbox CRM's Salesforce Pub/Sub API (gRPC `eventbus.v1.PubSub`) over its change events.

`GetTopic` (`/data/ChangeEvents`, `/data/<Object>ChangeEvent`), `GetSchema` (Avro JSON by
schema id) and `Subscribe` (pull flow control by `num_requested`, at most 100 per request;
replay presets LATEST/EARLIEST/CUSTOM; an empty keepalive batch carrying the latest replay id).
Auth: metadata `accesstoken` (a REST token), `instanceurl`, `tenantid` (the org id). Errors end
the call with a gRPC status and the `error-code`/`rpc-id` trailers Salesforce sends, e.g.
INVALID_ARGUMENT + `sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted` for a
replay id outside the retention window.
"""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import orjson

from bizbus.connectors.salesforce.pubsub import pubsub_api_pb2 as pb
from bizbus.connectors.salesforce.pubsub import pubsub_api_pb2_grpc as pb_grpc
from bizbus.deploy.sandbox.crm.auth import ORG_ID
from bizbus.deploy.sandbox.crm.changes import CDC_OBJECTS, ChangeLog, replay_bytes, replay_number
from bizbus.deploy.sandbox.crm.records import RecordStore

__all__ = ["ALL_CHANGES", "PubSubService", "start_pubsub", "topic_entities"]

ALL_CHANGES = "/data/ChangeEvents"
MAX_PER_REQUEST = 100  # Salesforce caps num_requested at 100
_ERR = "sfdc.platform.eventbus.grpc"


def topic_entities(topic: str) -> frozenset[str] | None:
    """The objects a change-event channel carries, or None for an unknown channel."""
    if topic == ALL_CHANGES:
        return frozenset(CDC_OBJECTS)
    name = topic.removeprefix("/data/").removesuffix("ChangeEvent")
    if topic.startswith("/data/") and topic.endswith("ChangeEvent") and name in CDC_OBJECTS:
        return frozenset({name})
    return None


async def _fail(context: Any, code: grpc.StatusCode, error_code: str, message: str) -> None:
    rpc_id = str(uuid.uuid4())
    await context.abort(
        code, f"{message} rpcId: {rpc_id}",
        trailing_metadata=(("error-code", error_code), ("rpc-id", rpc_id)),
    )  # fmt: skip


class PubSubService:
    """The PubSub servicer: one per CRM process, sharing its store and change log."""

    def __init__(self, records: RecordStore, changes: ChangeLog, *, keepalive_s: float) -> None:
        self.records = records
        self.changes = changes
        self.keepalive_s = keepalive_s
        self._wakers: set[asyncio.Event] = set()
        changes.listeners.append(self._wake)

    def _wake(self) -> None:
        for event in self._wakers:
            event.set()

    async def _authenticate(self, context: Any) -> None:
        metadata = {key.lower(): value for key, value in context.invocation_metadata() or ()}
        token, tenant = metadata.get("accesstoken", ""), metadata.get("tenantid", "")
        known = self.records.store.query("SELECT 1 FROM _tokens WHERE token = ?", (token,))
        if not (known and metadata.get("instanceurl") and tenant[:15] == ORG_ID[:15]):
            await _fail(context, grpc.StatusCode.UNAUTHENTICATED, f"{_ERR}.service.auth.error",
                        "An authentication exception occurred.")  # fmt: skip

    async def GetTopic(self, request: pb.TopicRequest, context: Any) -> pb.TopicInfo:
        """Describe a change-event channel."""
        await self._authenticate(context)
        entities = topic_entities(request.topic_name)
        if entities is None:
            await _fail(context, grpc.StatusCode.NOT_FOUND, f"{_ERR}.topic.not.found",
                        f"Topic {request.topic_name} does not exist.")  # fmt: skip
            raise AssertionError  # abort raised
        only = next(iter(entities)) if len(entities) == 1 else None
        return pb.TopicInfo(
            topic_name=request.topic_name, tenant_guid=ORG_ID, can_publish=False,
            can_subscribe=True, schema_id=self.changes.schema_ids[only] if only else "",
            rpc_id=str(uuid.uuid4()),
        )  # fmt: skip

    async def GetSchema(self, request: pb.SchemaRequest, context: Any) -> pb.SchemaInfo:
        """Return the Avro schema (JSON) of a schema id."""
        await self._authenticate(context)
        for entity, schema_id in self.changes.schema_ids.items():
            if schema_id == request.schema_id:
                return pb.SchemaInfo(
                    schema_json=orjson.dumps(self.changes.schemas[entity]).decode(),
                    schema_id=schema_id, rpc_id=str(uuid.uuid4()),
                )  # fmt: skip
        await _fail(context, grpc.StatusCode.NOT_FOUND, f"{_ERR}.schema.not.found",
                    f"Schema {request.schema_id} does not exist.")  # fmt: skip
        raise AssertionError  # abort raised

    async def _start(self, first: pb.FetchRequest, context: Any) -> int:
        """The sequence the subscription starts after."""
        latest = self.changes.latest()
        if first.replay_preset == pb.EARLIEST:
            oldest = self.changes.oldest()
            return latest if oldest is None else oldest - 1
        if first.replay_preset != pb.CUSTOM:
            return latest
        replay = replay_number(first.replay_id)
        oldest = self.changes.oldest()
        purged_upto = latest if oldest is None else oldest - 1
        if replay is None or not purged_upto < replay <= latest:
            await _fail(
                context, grpc.StatusCode.INVALID_ARGUMENT,
                f"{_ERR}.subscription.fetch.replayid.corrupted",
                "The Replay ID validation failed. Ensure that the replay_id field value in "
                "FetchRequest is valid and refers to an event that is within the retention window.",
            )  # fmt: skip
        return replay or 0  # (abort raised above for None)

    async def Subscribe(
        self, requests: AsyncIterator[pb.FetchRequest], context: Any
    ) -> AsyncIterator[pb.FetchResponse]:
        """Stream the channel's events as the client grants them."""
        await self._authenticate(context)
        first = await anext(aiter(requests), None)
        if first is None:
            return
        entities = topic_entities(first.topic_name)
        if entities is None:
            await _fail(context, grpc.StatusCode.NOT_FOUND, f"{_ERR}.topic.not.found",
                        f"Topic {first.topic_name} does not exist.")  # fmt: skip
            return
        position = await self._start(first, context)
        granted = min(first.num_requested, MAX_PER_REQUEST)
        wake = asyncio.Event()
        self._wakers.add(wake)

        async def more() -> None:
            nonlocal granted
            async for request in requests:
                if request.topic_name and request.topic_name != first.topic_name:
                    return  # the main loop notices nothing; Salesforce ends such a call
                granted += min(max(request.num_requested, 0), MAX_PER_REQUEST)
                wake.set()

        reader = asyncio.create_task(more())
        try:
            while not reader.done() or granted > 0:
                events = self.changes.after(position, entities, granted) if granted > 0 else []
                if events:
                    position = events[-1].replay
                    granted -= len(events)
                    yield pb.FetchResponse(
                        events=[self._consumer_event(event) for event in events],
                        latest_replay_id=replay_bytes(position), rpc_id=str(uuid.uuid4()),
                        pending_num_requested=granted,
                    )  # fmt: skip
                    continue
                wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), self.keepalive_s)
                    continue
                position = max(position, self._latest_seen(position, entities))
                yield pb.FetchResponse(
                    latest_replay_id=replay_bytes(position), rpc_id=str(uuid.uuid4()),
                    pending_num_requested=granted,
                )  # fmt: skip
        finally:
            self._wakers.discard(wake)
            reader.cancel()

    def _latest_seen(self, position: int, entities: frozenset[str]) -> int:
        # A keepalive may move past events of other channels, never past one of ours.
        pending = self.changes.after(position, entities, 1)
        return position if pending else self.changes.latest()

    def _consumer_event(self, event: Any) -> pb.ConsumerEvent:
        return pb.ConsumerEvent(
            event=pb.ProducerEvent(
                id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"crm-change:{event.replay}")),
                schema_id=self.changes.schema_ids[event.entity],
                payload=self.changes.encode(event),
            ),
            replay_id=replay_bytes(event.replay),
        )


async def start_pubsub(
    service: PubSubService, port: int, host: str = "127.0.0.1"
) -> grpc.aio.Server:
    """Start the gRPC server on `host:port` and return it (stop it with ``stop``)."""
    server = grpc.aio.server()
    pb_grpc.add_PubSubServicer_to_server(service, server)
    server.add_insecure_port(f"{host}:{port}")
    await server.start()
    return server
