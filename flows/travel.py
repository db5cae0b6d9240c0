"""OA travel approvals → ERP HR business trips (hr.leave), cancelled when the OA revokes them.

Sources: Feishu callbacks (`flows.webhooks`, `POST /webhooks/feishu`) and a catch-up feed
(`oa.approval-instance`, every `BIZBUS_OA_POLL_INTERVAL_S`) both publish raw records to
`src.oa.approval-instance`. Steps: fetch the instance detail, read its trip group, look the
applicant and approvers up in the Feishu directory → TravelApprovedV1 / TravelRevokedV1 on
`biz.hr.travel` → BusinessTripRequestedV1 (create / cancel) on `cmd.erp.business-trip` → Odoo
`hr.leave` found by `x_external_ref` = instance code (employee by number, else by e-mail;
created validated, revoked by `action_refuse`) → BusinessTripRecordedV1 on `biz.hr.business-trip`
and the `trip:<instance code>` cross-reference. Key: the instance code at every step, so a
revocation follows its approval. Idempotency: a table keeps what was announced per instance (an
approval once, a revocation only after an approval), and the sink writes only what differs, so
redelivered callbacks, catch-up overlap and replays change nothing. Dead letters: unreadable
forms (SchemaError), people missing from the directory or the ERP (MappingError), ERP refusals.
"""

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from bizbus.connectors.base import Cursor, Outcome, SinkCommand, SourceRecord
from bizbus.connectors.errors import MappingError, SchemaError
from bizbus.connectors.feishu import INSTANCE_ENTITY, FeishuConnector, parse_trip
from bizbus.connectors.odoo import OdooConnector
from bizbus.flows.context import FlowContext
from bizbus.flows.runtime.deadletter import safe_reason
from bizbus.flows.runtime.polling import correlation_id
from bizbus.flows.runtime.record import RawRecord
from bizbus.flows.runtime.spec import Feed
from bizbus.flows.shared import follow_up
from bizbus.flows.travel_mapping import (
    Decision,
    decide,
    employee_from_user,
    leave_payload,
    map_travel_approved,
    map_travel_revoked,
    map_trip_recorded,
    map_trip_request,
)
from bizbus.flows.webhooks import OA_INSTANCE_TOPIC, register_feishu_webhook
from bizbus.schemas import (
    BusinessTripRequestedV1,
    Employee,
    SourceRecordCapturedV1,
    TravelApprovedV1,
    TravelRevokedV1,
    decode_record,
    make_event,
)

__all__ = ["register"]

log = logging.getLogger("bizbus.travel")

TRAVEL_TOPIC = "biz.hr.travel"
COMMAND_TOPIC = "cmd.erp.business-trip"
DECISIONS_TABLE = "travel-decisions"
DECISIONS_PARTITIONS = 3  # = src.oa.approval-instance, the topic whose agent writes the table
CATCH_UP_FEED = "oa.approval-instance"
SOURCE = "bizbus://flows/travel"
_DIRECTORY_TTL_S = 600.0
_SUBSCRIBE_RETRY_S = (5.0, 300.0)


class Directory:
    """Feishu contact lookups (`contact/v3/users/:user_id`), kept a few minutes per worker."""

    def __init__(self, *, ttl_s: float = _DIRECTORY_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._users: dict[str, tuple[float, Mapping[str, Any]]] = {}

    async def user(self, oa: FeishuConnector, user_id: str) -> Mapping[str, Any]:
        """Return the directory entry of `user_id` (a MappingError when Feishu has none)."""
        cached = self._users.get(user_id)
        if cached is not None and time.monotonic() - cached[0] < self.ttl_s:
            return cached[1]
        data = await oa.call(
            "GET", f"/open-apis/contact/v3/users/{quote(user_id, safe='')}",
            params={"user_id_type": "user_id"},
        )  # fmt: skip
        user = data.get("user")
        if not isinstance(user, Mapping):
            raise MappingError(f"oa: the Feishu directory has no user {user_id}")
        self._users[user_id] = (time.monotonic(), user)
        return user

    async def employee(
        self, oa: FeishuConnector, user_id: str | None, *, employee_no: str | None = None
    ) -> Employee:
        """Return the Employee of a Feishu user id."""
        if not user_id:
            raise MappingError("oa: instance names no user id")
        return employee_from_user(await self.user(oa, user_id), employee_no=employee_no)


def _source_record(raw: SourceRecordCapturedV1) -> SourceRecord:
    return SourceRecord(
        entity=raw.object_name,
        id=raw.record_id,
        cursor=Cursor(raw.modified_at, raw.record_id),
        payload=raw.record,
        modified_at=raw.modified_at,
        deleted=raw.change_type == "delete",
    )


def register(ctx: FlowContext) -> None:
    """Declare the travel flow: webhook, subscription, catch-up feed and its three agents."""
    decisions: Any = ctx.app.Table(DECISIONS_TABLE, default=None, partitions=DECISIONS_PARTITIONS)
    directory = Directory()
    register_feishu_webhook(ctx)
    ctx.poller.add(Feed(CATCH_UP_FEED, "oa", OA_INSTANCE_TOPIC, _catch_up_reader(ctx)))
    ctx.app.task(_subscriber(ctx))

    async def announce_travel(record: RawRecord) -> None:
        event = decode_record(record.value, record.headers)
        raw = event.data
        if not isinstance(raw, SourceRecordCapturedV1) or raw.system != "oa":
            raise SchemaError(f"{OA_INSTANCE_TOPIC} carries {event.type}, not an OA record")
        if raw.object_name != INSTANCE_ENTITY:
            return  # trip-group events repeat the approval_instance APPROVED event
        code = raw.record_id
        announced = decisions.get(code)  # default=None tables raise KeyError on a miss
        status = raw.record.get("status")
        if decide(status if isinstance(status, str) else "", announced) is None:
            return  # a status already announced, or one that means nothing to the ERP
        oa = await ctx.connections.oa()
        detail = await oa.detail_of(_source_record(raw))
        decision = decide(detail.status, announced)  # the instance may have moved on since
        if decision is None:
            return
        trip = parse_trip(detail)
        applicant = await directory.employee(
            oa, trip.applicant_user_id, employee_no=trip.employee_no
        )
        deciders = trip.approved_by or trip.approvers
        approvers = [await directory.employee(oa, user_id) for user_id in deciders]
        travel: TravelApprovedV1 | TravelRevokedV1
        if decision is Decision.APPROVED:
            travel = map_travel_approved(
                trip, detail, applicant=applicant, approvers=approvers,
                observed_at=raw.modified_at,
            )  # fmt: skip
        else:
            travel = map_travel_revoked(
                trip, detail, applicant=applicant, approvers=approvers, revoked_at=raw.modified_at
            )
        await ctx.publish(
            make_event(
                travel, source=SOURCE, correlationid=correlation_id("oa-instance", code),
                causationid=event.id, origin="oa",
            )
        )  # fmt: skip
        decisions[code] = decision.value  # only once acked: a crash before re-announces

    async def request_trip(record: RawRecord) -> None:
        event = decode_record(record.value, record.headers)
        travel = event.data
        if not isinstance(travel, TravelApprovedV1 | TravelRevokedV1):
            raise SchemaError(f"{TRAVEL_TOPIC} carries {event.type}, not a travel event")
        await ctx.publish(follow_up(map_trip_request(travel), event, source=SOURCE, origin="oa"))

    async def record_trip(record: RawRecord) -> None:
        event = decode_record(record.value, record.headers)
        command = event.data
        if not isinstance(command, BusinessTripRequestedV1):
            raise SchemaError(f"{COMMAND_TOPIC} carries {event.type}, not a trip command")
        erp = await ctx.connections.erp()
        key = command.oa_instance_code
        if command.action == "create":
            employee_id = await _erp_employee(erp, command.employee)
            payload = leave_payload(command, employee_id=employee_id)
        elif await _leave_exists(erp, key):
            payload = {"state": "refused"}
        else:
            log.info("trip %s revoked before it reached the ERP: nothing to cancel", key)
            return
        result = await erp.apply(
            SinkCommand("hr.leave", key, payload, idempotency_key=event.id,
                        correlation_id=event.correlationid)
        )  # fmt: skip
        leave_id = int(result.external_ids["odoo_id"])
        ctx.xref.record(f"trip:{key}", oa=key, erp=str(leave_id))
        if result.outcome is Outcome.UNCHANGED:
            return  # a repeated command: the record already says so
        recorded = map_trip_recorded(
            command, leave_id=leave_id, erp_state=result.external_ids.get("state", ""),
            recorded_at=datetime.now(UTC),
        )  # fmt: skip
        await ctx.publish(follow_up(recorded, event, source=SOURCE, origin="erp"))

    ctx.agent(OA_INSTANCE_TOPIC, announce_travel, name="travel-approvals")
    ctx.agent(TRAVEL_TOPIC, request_trip, name="travel-trip-requests")
    ctx.agent(COMMAND_TOPIC, record_trip, name="erp-business-trips")


async def _erp_employee(erp: OdooConnector, employee: Employee) -> int:
    """The ERP employee by number (`barcode`), else by work e-mail; MappingError when neither."""
    found = await erp.lookups.find("hr.employee", "barcode", employee.employee_no)
    if found is None and employee.email:
        found = await erp.lookups.find("hr.employee", "work_email", str(employee.email))
    if found is None:
        raise MappingError(
            f"erp: no employee has number {employee.employee_no} or the applicant's e-mail "
            "(hr.employee barcode / work_email)"
        )
    return found


async def _leave_exists(erp: OdooConnector, key: str) -> bool:
    rows = await erp.call(
        "hr.leave", "search", [[("x_external_ref", "=", key)]],
        {"limit": 1, "context": {"active_test": False}},
    )  # fmt: skip
    return bool(rows)


def _catch_up_reader(ctx: FlowContext) -> Any:
    """The catch-up feed's reader: one pass per `BIZBUS_OA_POLL_INTERVAL_S`, else nothing."""
    last: dict[str, float] = {}

    async def read(since: Cursor | None) -> AsyncIterator[SourceRecord]:
        oa = await ctx.connections.oa()
        now = time.monotonic()
        if now - last.get("at", float("-inf")) < oa.settings.poll_interval_s:
            return  # the poller ticks for CRM/ERP cadence; Feishu's quotas want far fewer
        last["at"] = now
        async for record in oa.changes(INSTANCE_ENTITY, since):
            yield record

    return read


def _subscriber(ctx: FlowContext) -> Any:
    """A start-up task: subscribe to the configured approval definitions, retrying if down."""

    async def subscribe_oa_approvals() -> None:
        delay, ceiling = _SUBSCRIBE_RETRY_S
        while True:
            try:
                oa = await ctx.connections.oa()
                added = await oa.subscribe_all()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - the worker must keep running
                log.error(
                    "could not subscribe to OA approval events (%s); callbacks stay silent until "
                    "it works, catch-up polling still runs; retrying in %.0f s",
                    safe_reason(error), delay,
                )  # fmt: skip
                await asyncio.sleep(delay)
                delay = min(ceiling, delay * 2)
                continue
            log.info("subscribed to OA approval events: %d new definition(s)", len(added))
            return

    return subscribe_oa_approvals
