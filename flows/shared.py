"""What several flows share: decoding with dead-letter reasons, follow-ups, CRM echoes, owners.

One place for the rules more than one flow applies (a CRM account's customer number, the deal id
of a CRM order), so no flow imports another.
"""

from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import Any, TypeVar

from bizbus.connectors.base import Cursor, SourceRecord
from bizbus.connectors.errors import IntegrationError, MappingError, SchemaError
from bizbus.connectors.fields import text
from bizbus.connectors.odoo.webhook import parse_notification, token_matches
from bizbus.connectors.salesforce import SalesforceConnector
from bizbus.connectors.salesforce.cdc import ChangeStream
from bizbus.flows.context import Systems
from bizbus.flows.runtime.polling import correlation_id
from bizbus.flows.runtime.record import RawRecord
from bizbus.flows.runtime.spec import Batch, HintSource, PushBatch, PushSource, ReadChanges
from bizbus.flows.runtime.tracing import trace_fields
from bizbus.schemas import (
    Envelope,
    KeyRing,
    OrderStatus,
    SalesRep,
    SourceRecordCapturedV1,
    decode_record,
    make_event,
)
from bizbus.schemas.envelope import System
from bizbus.schemas.errors import SchemaError as ContractError
from bizbus.schemas.values import Payload, is_email

__all__ = [
    "CRM",
    "CRM_ORDER_CANCELLED",
    "CRM_STATUS",
    "ERP",
    "OA",
    "ODOO_WEBHOOK_PATH",
    "Owners",
    "captured",
    "crm_feed",
    "crm_order_deal",
    "customer_ref",
    "decode",
    "decode_as",
    "erp_feed",
    "erp_hints",
    "follow_up",
    "is_echo",
    "sales_rep",
    "source_record",
]

P = TypeVar("P", bound=Payload)

# The external systems a stage calls (StageSpec.systems).
CRM = frozenset({"crm"})
ERP = frozenset({"erp"})
OA = frozenset({"oa"})
# ErpStatus__c picklist values of the CRM; None: the status has no CRM value of its own.
CRM_ORDER_CANCELLED = "Cancelled"
"""The CRM Order `Status` of a withdrawn order (the org's custom status value)."""
CRM_STATUS: dict[OrderStatus, str | None] = {
    OrderStatus.PLACED: None,
    OrderStatus.ACCEPTED: "Confirmed",
    OrderStatus.IN_PRODUCTION: "InProduction",
    OrderStatus.SHIPPED: "Shipped",
    OrderStatus.INVOICED: "Invoiced",
    OrderStatus.COMPLETED: "Invoiced",
    OrderStatus.CANCELLED: "Cancelled",
}


def crm_feed(connections: Systems, entity: str) -> ReadChanges:
    """Return the reader of a CRM object's changes: one catch-up pass after the cursor a call."""

    async def read(since: Cursor | None) -> AsyncIterator[SourceRecord]:
        crm = await connections.crm()
        async for record in crm.changes(entity, since):
            yield record

    return read


def crm_batch(connections: Systems, entity: str) -> Batch:
    """Return the batch every CRM feed belongs to: one Composite call reads all of them."""

    async def prefetch(since: Mapping[str, Cursor | None]) -> None:
        crm = await connections.crm()
        await crm.prefetch_changes(since)

    return Batch("crm-composite", entity, prefetch)


def crm_push(connections: Systems) -> PushSource:
    """Return the CRM's Change Data Capture subscription (on with ``BIZBUS_CRM_MODE=push``)."""

    async def safety_poll_s() -> float | None:
        settings = (await connections.crm()).settings
        return settings.push_safety_poll_s if settings.resolved_mode() == "push" else None

    async def subscribe(
        objects: frozenset[str], position: bytes | None
    ) -> AsyncGenerator[PushBatch, None]:
        stream = ChangeStream(await connections.crm(), sorted(objects))
        try:
            async for batch in stream.batches(position):
                yield batch
        finally:
            await stream.aclose()

    return PushSource("crm", safety_poll_s, subscribe)


def oa_stream(connections: Systems) -> PushSource:
    """Return the OA's event stream (DingTalk Stream mode, on with ``BIZBUS_OA_MODE=stream``)."""

    async def safety_poll_s() -> float | None:
        return (await connections.oa()).stream_safety_poll_s()

    async def subscribe(
        objects: frozenset[str], position: bytes | None
    ) -> AsyncGenerator[PushBatch, None]:
        async for batch in (await connections.oa()).stream_batches():
            yield batch

    return PushSource("oa", safety_poll_s, subscribe)


ODOO_WEBHOOK_PATH = "/webhooks/odoo"


def erp_hints(connections: Systems) -> HintSource:
    """Return Odoo's webhook hints, at `/webhooks/odoo/<token>` (``BIZBUS_ERP_MODE=push``)."""

    async def safety_poll_s() -> float | None:
        settings = (await connections.erp()).settings
        return settings.push_safety_poll_s if settings.resolved_mode() == "push" else None

    async def accepts(token: str) -> bool:
        try:
            settings = (await connections.erp()).settings
        except IntegrationError:
            return False  # bad settings: the worker's log says so; the path does not exist
        return settings.resolved_mode() == "push" and token_matches(token, settings.webhook_token)

    def parse(body: bytes) -> str:
        return parse_notification(body).model

    return HintSource("erp", ODOO_WEBHOOK_PATH, safety_poll_s, accepts, parse)


def erp_feed(connections: Systems, model: str) -> ReadChanges:
    """Return the reader of an ERP model's changes: one catch-up pass after the cursor a call."""

    async def read(since: Cursor | None) -> AsyncIterator[SourceRecord]:
        erp = await connections.erp()
        async for record in erp.changes(model, since, follow=False):
            yield record

    return read


_DECODED = "decoded"


def decode(record: RawRecord, keys: KeyRing | None) -> Envelope[Any]:
    """Decode a consumed record; a bad one fails with its (value-free) reason for dead letters.

    `keys` (the flow's `deps.keys`) open its personal fields when they are sealed. Several
    stages read each record of some topics (an order's placement, its SLA signal): the event is
    decoded once and shared (events are frozen).
    """
    cached = record.memo.get(_DECODED)
    if isinstance(cached, tuple) and cached[0] is keys:
        event: Envelope[Any] = cached[1]
        return event
    try:
        event = decode_record(record.value, record.headers, keys=keys)
    except SchemaError:
        raise
    except ContractError as error:  # schemas' own error: says where, never the values
        raise SchemaError(f"{record.topic}: undecodable record: {error}") from error
    record.memo[_DECODED] = (keys, event)
    return event


def decode_as(
    record: RawRecord, kind: type[P], what: str, keys: KeyRing | None
) -> tuple[Envelope[Any], P]:
    """Decode a record that must carry a `kind` payload (`what` names it in the dead letter)."""
    event = decode(record, keys)
    if not isinstance(event.data, kind):
        raise SchemaError(f"{record.topic} carries {event.type}, not {what}")
    return event, event.data


def captured(
    record: RawRecord, keys: KeyRing | None, *, entity: str | None = None
) -> tuple[Envelope[Any], SourceRecordCapturedV1]:
    """Decode a raw feed record (of `entity` when given)."""
    what = f"a {entity} record" if entity else "a captured source record"
    event, raw = decode_as(record, SourceRecordCapturedV1, what, keys)
    if entity is not None and raw.object_name != entity:
        raise SchemaError(f"{record.topic} carries a {raw.object_name} record, not {what}")
    return event, raw


def source_record(raw: SourceRecordCapturedV1) -> SourceRecord:
    """The connector's view of a captured record again (what an OA decision reader takes)."""
    return SourceRecord(entity=raw.object_name, id=raw.record_id,
                        cursor=Cursor(raw.modified_at, raw.record_id), payload=raw.record,
                        modified_at=raw.modified_at,
                        deleted=raw.change_type == "delete")  # fmt: skip


def follow_up(
    payload: Payload, cause: Envelope[Any], *, source: str, origin: System
) -> Envelope[Any]:
    """Return the event `payload` makes as a consequence of `cause`: same deal, caused by it."""
    return make_event(
        payload,
        source=source,
        correlationid=cause.correlationid,
        causationid=cause.id,
        origin=origin,
        **trace_fields(cause),
    )


def crm_order_deal(crm_order_id: str) -> str:
    """Return the correlation id of the deal a CRM order stands for (every flow uses it)."""
    return correlation_id("crm-order", crm_order_id)


def is_echo(crm: SalesforceConnector, row: Mapping[str, Any]) -> bool:
    """True when a polled CRM row's last write was ours (a write-back coming back)."""
    return crm.echo_hint(dict(row)) == crm.client_tag


def customer_ref(row: Mapping[str, Any]) -> str:
    """Return the ERP customer number (partner `ref`) of a CRM Account row.

    In this order: `ErpCustomerRef__c` (once cross-referenced it never moves), `AccountNumber`,
    or `CRM-<id>`, so an account without a number still gets one stable reference.
    """
    ref = text(row.get("ErpCustomerRef__c")) or text(row.get("AccountNumber"))
    if ref:
        return ref
    account_id = text(row.get("Id"))
    if not account_id:
        raise MappingError("crm: account row without an Id")
    return f"CRM-{account_id}"


def sales_rep(user_id: str, user: Mapping[str, Any] | None) -> SalesRep:
    """Return the owner of a CRM record from its User row; its id alone if unknown.

    `Name` and `Email` name them; `Title` is their sales role (it sets their discount limit).
    """
    user = user or {}
    email = text(user.get("Email"))
    return SalesRep(
        user_id=user_id,
        name=text(user.get("Name")) or user_id,
        email=email if email and is_email(email) else None,  # a bad address is not a bad order
        role=text(user.get("Title")),
    )


class Owners:
    """CRM users by id, read once per worker (names and e-mails of sales reps rarely change)."""

    def __init__(self) -> None:
        self._known: dict[str, SalesRep] = {}

    async def of(self, crm: SalesforceConnector, row: Mapping[str, Any]) -> SalesRep:
        """Return the owner of a CRM row (its last editor when the org left OwnerId empty)."""
        user_id = row.get("OwnerId") or row.get("LastModifiedById")
        if not isinstance(user_id, str) or not user_id:
            raise MappingError("crm: record without an OwnerId or LastModifiedById")
        if user_id not in self._known:
            user = await crm.get("User", user_id, fields=["Id", "Name", "Email", "Title"])
            self._known[user_id] = sales_rep(user_id, user)
        return self._known[user_id]
