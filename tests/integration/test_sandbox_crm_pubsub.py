"""Conformance: a plain grpcio client, written from the Pub/Sub API reference, against the CRM.

The sandbox CRM's Change Data Capture is reached over real loopback sockets.
The client does what Salesforce's own Python quick start does: session metadata (accesstoken,
instanceurl, tenantid), `GetTopic` → `GetSchema` → fastavro `schemaless_reader`, a bidi
`Subscribe` stream fed with `FetchRequest`s, `changedFields` bitmaps decoded against the
schema's field order, and resumption from a stored `replay_id`.
"""

import io
import queue
import threading
from collections.abc import Iterator
from typing import Any

import fastavro
import grpc
import httpx
import orjson
import pytest

from bizbus.connectors.salesforce.pubsub import pubsub_api_pb2 as pb
from bizbus.connectors.salesforce.pubsub import pubsub_api_pb2_grpc as pb_grpc
from bizbus.deploy.sandbox.registry import SYSTEMS
from bizbus.deploy.sandbox.runner import SandboxStack

RECEIVE_S = 30.0  # generous: the machine is shared


@pytest.fixture(scope="module")
def crm_url(crm_pubsub: SandboxStack) -> str:
    return crm_pubsub.urls["crm"]


@pytest.fixture(scope="module")
def login(crm_url: str) -> dict[str, Any]:
    creds = SYSTEMS["crm"].credentials
    response = httpx.post(f"{crm_url}/services/oauth2/token", timeout=10,
                          data={"grant_type": "client_credentials", **creds})  # fmt: skip
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture(scope="module")
def metadata(login: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    tenant = login["id"].split("/")[-2]  # .../id/<org id>/<user id>
    return (("accesstoken", login["access_token"]), ("instanceurl", login["instance_url"]),
            ("tenantid", tenant))  # fmt: skip


@pytest.fixture(scope="module")
def stub(crm_pubsub: SandboxStack) -> Iterator[Any]:
    address = crm_pubsub.grpc_addresses["crm"]
    with grpc.insecure_channel(address) as channel:
        yield pb_grpc.PubSubStub(channel)


class Subscription:
    """One Subscribe stream: requests fed from a queue, responses read with a timeout."""

    def __init__(self, stub: Any, metadata: Any, first: pb.FetchRequest) -> None:
        self.requests: queue.Queue[pb.FetchRequest | None] = queue.Queue()
        self.requests.put(first)
        self.call = stub.Subscribe(iter(self.requests.get, None), metadata=metadata)
        self.responses: queue.Queue[Any] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        try:
            for response in self.call:
                self.responses.put(response)
        except grpc.RpcError as error:
            self.responses.put(error)

    def request(self, n: int) -> None:
        self.requests.put(pb.FetchRequest(num_requested=n))

    def next(self) -> pb.FetchResponse:
        item = self.responses.get(timeout=RECEIVE_S)
        if isinstance(item, grpc.RpcError):
            raise item
        assert isinstance(item, pb.FetchResponse)
        return item

    def events(self, count: int) -> list[pb.ConsumerEvent]:
        """Read responses until `count` events arrived (keepalives skipped)."""
        got: list[pb.ConsumerEvent] = []
        while len(got) < count:
            got += list(self.next().events)
        return got

    def close(self) -> None:
        self.requests.put(None)
        self.call.cancel()


class Decoder:
    """Schemas by id (fetched once each with GetSchema) and Avro decoding."""

    def __init__(self, stub: Any, metadata: Any) -> None:
        self.stub, self.metadata = stub, metadata
        self.schemas: dict[str, dict[str, Any]] = {}

    def schema(self, schema_id: str) -> dict[str, Any]:
        if schema_id not in self.schemas:
            info = self.stub.GetSchema(
                pb.SchemaRequest(schema_id=schema_id), metadata=self.metadata
            )
            self.schemas[schema_id] = orjson.loads(info.schema_json)
        return self.schemas[schema_id]

    def decode(self, event: pb.ConsumerEvent) -> dict[str, Any]:
        schema = self.schema(event.event.schema_id)
        record = fastavro.schemaless_reader(
            io.BytesIO(event.event.payload), fastavro.parse_schema(schema), None
        )
        assert isinstance(record, dict)
        names = [field["name"] for field in schema["fields"]]
        header = record["ChangeEventHeader"]
        header["changedFields"] = _expand(header["changedFields"], names)
        header["nulledFields"] = _expand(header["nulledFields"], names)
        return record


def _expand(bitmaps: list[str], names: list[str]) -> list[str]:
    # The reference's rule: bit i of the first element = field i of the schema.
    fields: list[str] = []
    for value in bitmaps:
        if "-" not in value:
            bits = int(value, 16)
            fields += [name for i, name in enumerate(names) if bits >> i & 1]
    return fields


def _trailers(error: Any) -> dict[str, str]:
    return {str(key): str(value) for key, value in error.trailing_metadata() or ()}


def _create_account(crm_url: str, token: str, name: str, *, client: str = "conformance") -> str:
    response = httpx.post(
        f"{crm_url}/services/data/v60.0/sobjects/Account", json={"Name": name}, timeout=10,
        headers={"Authorization": f"Bearer {token}", "Sforce-Call-Options": f"client={client}"},
    )  # fmt: skip
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _update_account(crm_url: str, token: str, account_id: str, fields: dict[str, Any]) -> None:
    response = httpx.patch(
        f"{crm_url}/services/data/v60.0/sobjects/Account/{account_id}", json=fields, timeout=10,
        headers={"Authorization": f"Bearer {token}"},
    )  # fmt: skip
    assert response.status_code == 204, response.text


def _live(stub: Any, metadata: Any, topic: str, n: int) -> Subscription:
    """A LATEST subscription known to be established (its first keepalive arrived)."""
    sub = Subscription(stub, metadata, pb.FetchRequest(topic_name=topic, num_requested=n))
    assert not sub.next().events  # the keepalive: the server has placed the subscription
    return sub


def _after(stub: Any, metadata: Any, replay_id: bytes, n: int) -> Subscription:
    """An Account subscription resumed after `replay_id` (CUSTOM), granting `n` events."""
    first = pb.FetchRequest(topic_name="/data/AccountChangeEvent", num_requested=n,
                            replay_preset=pb.CUSTOM, replay_id=replay_id)  # fmt: skip
    return Subscription(stub, metadata, first)


def _one_event(stub: Any, metadata: Any, crm_url: str, token: str, name: str) -> tuple[str, Any]:
    """Create an Account while subscribed; return its id and its change event."""
    sub = _live(stub, metadata, "/data/AccountChangeEvent", 1)
    try:
        account = _create_account(crm_url, token, name)
        (event,) = sub.events(1)
    finally:
        sub.close()
    return account, event


def test_get_topic_names_a_schema_that_get_schema_serves(stub: Any, metadata: Any) -> None:
    topic = stub.GetTopic(pb.TopicRequest(topic_name="/data/AccountChangeEvent"), metadata=metadata)
    assert topic.can_subscribe and not topic.can_publish and topic.schema_id
    assert topic.tenant_guid.startswith("00D")
    info = stub.GetSchema(pb.SchemaRequest(schema_id=topic.schema_id), metadata=metadata)
    schema = orjson.loads(info.schema_json)
    fastavro.parse_schema(schema)  # a valid Avro schema
    assert schema["name"] == "AccountChangeEvent"
    assert schema["fields"][0]["name"] == "ChangeEventHeader"
    header = [f["name"] for f in schema["fields"][0]["type"]["fields"]]
    for name in (
        "entityName",
        "recordIds",
        "changeType",
        "changedFields",
        "commitTimestamp",
        "commitNumber",
        "commitUser",
        "transactionKey",
        "sequenceNumber",
        "changeOrigin",
    ):
        assert name in header


def test_unknown_topic_and_bad_token_are_refused_with_status_and_error_code(
    stub: Any, metadata: Any
) -> None:
    with pytest.raises(grpc.RpcError) as missing:
        stub.GetTopic(pb.TopicRequest(topic_name="/data/NopeChangeEvent"), metadata=metadata)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    bad = (("accesstoken", "00D!forged"), *metadata[1:])
    with pytest.raises(grpc.RpcError) as denied:
        stub.GetTopic(pb.TopicRequest(topic_name="/data/AccountChangeEvent"), metadata=bad)
    assert denied.value.code() == grpc.StatusCode.UNAUTHENTICATED
    trailers = _trailers(denied.value)
    assert trailers["error-code"] == "sfdc.platform.eventbus.grpc.service.auth.error"


def test_a_rest_create_arrives_as_a_decoded_change_event(
    stub: Any, metadata: Any, crm_url: str, login: dict[str, Any]
) -> None:
    sub = _live(stub, metadata, "/data/AccountChangeEvent", 5)
    try:
        account = _create_account(crm_url, login["access_token"], "华东机床 Conformance")
        (event,) = sub.events(1)
    finally:
        sub.close()
    record = Decoder(stub, metadata).decode(event)
    header = record["ChangeEventHeader"]
    assert header["entityName"] == "Account"
    assert header["changeType"] == "CREATE"
    assert header["recordIds"] == [account]
    assert header["changeOrigin"].endswith(";client=conformance")
    assert header["commitUser"] == login["id"].split("/")[-1]
    assert header["transactionKey"] and header["sequenceNumber"] == 1
    assert "Name" in header["changedFields"] and record["Name"] == "华东机床 Conformance"
    assert event.replay_id


def test_resume_from_a_replay_id_gets_exactly_the_later_changes(
    stub: Any, metadata: Any, crm_url: str, login: dict[str, Any]
) -> None:
    token = login["access_token"]
    account, created = _one_event(stub, metadata, crm_url, token, "Resume GmbH")
    _update_account(crm_url, token, account, {"Phone": "+86 21 5555 0101"})
    _update_account(crm_url, token, account, {"Phone": None, "BillingCity": "上海"})
    resumed = _after(stub, metadata, created.replay_id, 10)
    try:
        events = resumed.events(2)
    finally:
        resumed.close()
    decoder = Decoder(stub, metadata)
    phone, city = (decoder.decode(event) for event in events)
    assert [e["ChangeEventHeader"]["recordIds"] for e in (phone, city)] == [[account], [account]]
    assert phone["ChangeEventHeader"]["changeType"] == "UPDATE"
    assert "Phone" in phone["ChangeEventHeader"]["changedFields"]
    assert phone["Name"] is None  # unchanged fields travel as null
    nulled = city["ChangeEventHeader"]["nulledFields"]
    assert "Phone" in nulled and "BillingCity" not in nulled
    assert city["BillingCity"] == "上海"


def test_num_requested_bounds_what_the_server_sends(
    stub: Any, metadata: Any, crm_url: str, login: dict[str, Any]
) -> None:
    token = login["access_token"]
    sub = _live(stub, metadata, "/data/AccountChangeEvent", 1)
    try:
        ids = [_create_account(crm_url, token, f"Flow {n}") for n in range(3)]
        response = sub.next()
        while not response.events:
            response = sub.next()
        assert len(response.events) == 1 and response.pending_num_requested == 0
        assert not sub.next().events  # nothing more until asked: a keepalive comes instead
        sub.request(5)
        later = sub.events(2)
    finally:
        sub.close()
    decoder = Decoder(stub, metadata)
    got = [
        decoder.decode(e)["ChangeEventHeader"]["recordIds"][0] for e in [*response.events, *later]
    ]
    assert got == ids


def test_gap_and_overflow_events_carry_only_a_header(
    stub: Any, metadata: Any, crm_url: str, login: dict[str, Any]
) -> None:
    account = _create_account(crm_url, login["access_token"], "Gap AG")
    sub = _live(stub, metadata, "/data/ChangeEvents", 5)
    try:
        gap = httpx.post(
            f"{crm_url}/_sandbox/changes/gap",
            timeout=10,
            json={"object": "Account", "id": account, "fields": {"Phone": "1"}},
        )
        assert gap.status_code == 200, gap.text
        overflow = httpx.post(f"{crm_url}/_sandbox/changes/overflow", json={"object": "Order"},
                              timeout=10)  # fmt: skip
        assert overflow.status_code == 200, overflow.text
        events = sub.events(2)
    finally:
        sub.close()
    decoder = Decoder(stub, metadata)
    gap_event, overflow_event = (decoder.decode(event) for event in events)
    assert gap_event["ChangeEventHeader"]["changeType"] == "GAP_UPDATE"
    assert gap_event["ChangeEventHeader"]["recordIds"] == [account]
    assert gap_event["Phone"] is None and gap_event["ChangeEventHeader"]["changedFields"] == []
    assert overflow_event["ChangeEventHeader"]["changeType"] == "GAP_OVERFLOW"
    assert overflow_event["ChangeEventHeader"]["entityName"] == "Order"
    assert overflow_event["ChangeEventHeader"]["recordIds"] == []


def test_a_replay_id_past_the_retention_window_is_refused_as_salesforce_does(
    stub: Any, metadata: Any, crm_url: str, login: dict[str, Any]
) -> None:
    # Last in this module: it moves the sandbox clock past the 72 h retention window.
    _, old = _one_event(stub, metadata, crm_url, login["access_token"], "Old News Ltd")
    step = httpx.post(f"{crm_url}/_sandbox/clock", json={"advance_s": 73 * 3600}, timeout=10)
    assert step.status_code == 200
    expired = _after(stub, metadata, old.replay_id, 1)
    try:
        with pytest.raises(grpc.RpcError) as refused:
            expired.next()
    finally:
        expired.close()
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    trailers = _trailers(refused.value)
    assert (
        trailers["error-code"]
        == "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted"
    )
    assert trailers["rpc-id"]
    # EARLIEST still works and starts after what was purged.
    sub = Subscription(
        stub,
        metadata,
        pb.FetchRequest(
            topic_name="/data/AccountChangeEvent", num_requested=1, replay_preset=pb.EARLIEST
        ),
    )
    try:
        assert not sub.next().events
    finally:
        sub.close()
