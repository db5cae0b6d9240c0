"""OA travel approvals → ERP HR business trips (hr.leave), cancelled when the OA revokes them.

OA callbacks (`webhooks`, a page per OA dialect) and a catch-up feed →
`src.oa.approval-instance` → TravelApproved/Revoked on `biz.hr.travel` → `cmd.erp.business-trip`
→ `hr.leave` by `x_external_ref`, xref `trip:<code>` → BusinessTripRecordedV1. Key: the
instance code. Idempotent: announced decisions table, a sink that writes only what differs.
Dead letters: bad forms, unknown people, refusals.
Only instances the `travel` handler claims are read (`BIZBUS_OA_HANDLERS`); others are skipped.
The OA is held as an `ApprovalConnector` (Feishu or DingTalk, by `BIZBUS_OA_DIALECT`): its
detail, trip form and directory are read through it, never through a dialect's API.
"""

import logging
from collections.abc import AsyncIterator, Mapping
from functools import partial
from typing import Any, ClassVar

from bizbus.connectors.approvals import INSTANCE_ENTITY, ApprovalConnector
from bizbus.connectors.base import Cursor, Outcome, SinkCommand, SourceRecord
from bizbus.connectors.errors import MappingError, SchemaError
from bizbus.connectors.feishu.handlers import HANDLER_KEY, TRAVEL, handler_of
from bizbus.connectors.odoo import OdooConnector
from bizbus.flows.context import FlowDeps
from bizbus.flows.runtime import spec
from bizbus.flows.runtime.polling import correlation_id
from bizbus.flows.runtime.record import RawRecord
from bizbus.flows.runtime.spec import Declaration, Emit, Output, Put, StageSpec
from bizbus.flows.runtime.tracing import trace_fields
from bizbus.flows.shared import ERP, OA, captured, decode, decode_as, follow_up
from bizbus.flows.travel.mapping import (
    Decision,
    decide,
    employee_from_user,
    leave_payload,
    map_travel_approved,
    map_travel_revoked,
    map_trip_recorded,
    map_trip_request,
)
from bizbus.flows.travel.webhooks import (
    OA_INSTANCE_TOPIC,
    OA_WEBHOOK_DIALECTS,
    oa_callback,
    webhook_path,
)
from bizbus.schemas import (
    BusinessTripRequestedV1,
    Employee,
    SourceRecordCapturedV1,
    TravelApprovedV1,
    TravelRevokedV1,
    make_event,
)

log = logging.getLogger("bizbus.travel")

TRAVEL_TOPIC = "biz.hr.travel"
COMMAND_TOPIC = "cmd.erp.business-trip"
DECISIONS = spec.TableSpec(
    "travel-decisions", 3
)  # = src.oa.approval-instance, whose stage writes it
CATCH_UP_FEED = "oa.approval-instance"
SOURCE = "bizbus://flows/travel"
_DIRECTORY_TTL_S = 600.0
SILENT = "callbacks stay silent, catch-up polling still runs"


class Directory:
    """The OA directory's people (`ApprovalConnector.directory_user`), kept a few minutes."""

    def __init__(self, clock: Any, *, ttl_s: float = _DIRECTORY_TTL_S) -> None:
        self.clock = clock
        self.ttl_s = ttl_s
        self._users: dict[str, tuple[float, Mapping[str, Any]]] = {}

    async def user(self, oa: ApprovalConnector, user_id: str) -> Mapping[str, Any]:
        """Return the directory entry of `user_id` (a MappingError when the OA has none)."""
        cached = self._users.get(user_id)
        if cached is not None and self.clock() - cached[0] < self.ttl_s:
            return cached[1]
        user = await oa.directory_user(user_id)
        self._users[user_id] = (self.clock(), user)
        return user

    async def employee(
        self, oa: ApprovalConnector, user_id: str | None, *, employee_no: str | None = None
    ) -> Employee:
        """Return the Employee of an OA user id."""
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


class TravelFlow:
    """OA travel approvals to ERP business trips: webhook, subscription, feed, three stages."""

    TABLES: ClassVar[tuple[spec.TableSpec, ...]] = (DECISIONS,)

    def __init__(self, deps: FlowDeps, tables: spec.Tables | None = None) -> None:
        self.deps = deps
        self.decisions = (tables or spec.fresh_tables(*self.TABLES))[DECISIONS.name]
        self.directory = Directory(deps.clock)
        self._caught_up_at = float("-inf")

    def declare(self) -> Declaration:
        """Return the callback page, the subscription task, the catch-up feed and the stages."""
        return Declaration(
            stages=(
                StageSpec("travel-approvals", OA_INSTANCE_TOPIC, self.on_instance, OA),
                StageSpec("travel-trip-requests", TRAVEL_TOPIC, self.on_travel, pure=True),
                StageSpec("erp-business-trips", COMMAND_TOPIC, self.on_trip_command, ERP),
            ),
            pages=tuple(
                spec.PageSpec(
                    webhook_path(dialect),
                    partial(self.on_callback, dialect=dialect),
                    f"{dialect}-webhook",
                    "POST",
                    public=True,
                )
                for dialect in OA_WEBHOOK_DIALECTS
            ),
            tasks=(spec.TaskSpec("subscribe_oa_approvals", self.subscribe, while_failing=SILENT),),
            # entity: records of the OA's event stream (DingTalk Stream mode) join this feed
            feeds=(
                spec.Feed(
                    CATCH_UP_FEED,
                    "oa",
                    OA_INSTANCE_TOPIC,
                    self.read_catch_up,
                    entity=INSTANCE_ENTITY,
                ),
            ),
            # the webhook page publishes the OA's instances like the catch-up feed does
            emits=(OA_INSTANCE_TOPIC, TRAVEL_TOPIC, COMMAND_TOPIC, "biz.hr.business-trip"),
        )

    async def on_callback(
        self, request: spec.WebRequest, publish: spec.Publish, *, dialect: str = "feishu"
    ) -> spec.WebResponse:
        """`POST /webhooks/<dialect>`: see `webhooks` (404 unless it is the OA's dialect)."""
        return await oa_callback(
            self.deps.connections, request, publish, dialect=dialect, seen=self.deps.seen
        )

    async def subscribe(self) -> None:
        """Subscribe to the configured approval definitions' events (once, at start-up)."""
        oa = await self.deps.connections.oa()
        added = await oa.subscribe_all()
        log.info("subscribed to OA approval events: %d new definition(s)", len(added))

    async def read_catch_up(self, since: Cursor | None) -> AsyncIterator[SourceRecord]:
        """One pass per `BIZBUS_OA_POLL_INTERVAL_S`, else nothing (the OA's quotas want few)."""
        oa = await self.deps.connections.oa()
        now = self.deps.clock()
        if now - self._caught_up_at < oa.settings.poll_interval_s:
            return  # the poller ticks for CRM/ERP cadence
        self._caught_up_at = now
        async for record in oa.changes(INSTANCE_ENTITY, since):
            yield record

    async def on_instance(self, record: RawRecord) -> list[Output]:
        """An OA instance → TravelApproved/Revoked once per decision (remembered once acked)."""
        event, raw = captured(record, self.deps.keys)
        if raw.system != "oa":
            raise SchemaError(f"{record.topic} carries a {raw.system} record, not an OA record")
        if raw.object_name != INSTANCE_ENTITY:
            return []  # trip-group events repeat the approval_instance APPROVED event
        if not await self._claimed(raw.record):
            return []
        code = raw.record_id
        announced = self.decisions.get(code)
        status = raw.record.get("status")
        if decide(status if isinstance(status, str) else "", announced) is None:
            return []  # a status already announced, or one that means nothing to the ERP
        oa = await self.deps.connections.oa()
        detail = await oa.detail_of(_source_record(raw))
        decision = decide(detail.status, announced)  # the instance may have moved on since
        if decision is None:
            return []
        trip = oa.trip_of(detail)
        directory = self.directory
        applicant = await directory.employee(oa, trip.applicant_user_id,
                                             employee_no=trip.employee_no)  # fmt: skip
        deciders = trip.approved_by or trip.approvers
        approvers = [await directory.employee(oa, user_id) for user_id in deciders]
        travel: TravelApprovedV1 | TravelRevokedV1
        if decision is Decision.APPROVED:
            travel = map_travel_approved(trip, detail, applicant=applicant, approvers=approvers,
                                         observed_at=raw.modified_at)  # fmt: skip
        else:
            travel = map_travel_revoked(trip, detail, applicant=applicant, approvers=approvers,
                                        revoked_at=raw.modified_at)  # fmt: skip
        announcement = make_event(travel, source=SOURCE, causationid=event.id, origin="oa",
                                  correlationid=correlation_id("oa-instance", code),
                                  **trace_fields(event))  # fmt: skip
        return [Emit(announcement), Put(self.decisions, code, decision.value)]

    async def _claimed(self, payload: Mapping[str, Any]) -> bool:
        """True for a trip; another handler's form is left to it, an unclaimed one logged."""
        claims: Mapping[str, str] = {}
        if not isinstance(payload.get(HANDLER_KEY), str):  # published before handlers existed
            claims = (await self.deps.connections.oa()).settings.claims()
        handler = handler_of(payload, claims)
        if handler is None:
            code = payload.get("approval_code")
            log.info(
                "OA instance of approval definition %s skipped: no handler claims it",
                code[:64] if isinstance(code, str) else "(none)",
            )
        return handler == TRAVEL

    async def on_travel(self, record: RawRecord) -> list[Output]:
        """A travel event → the ERP business-trip command (create or cancel)."""
        event = decode(record, self.deps.keys)
        travel = event.data
        if not isinstance(travel, TravelApprovedV1 | TravelRevokedV1):
            raise SchemaError(f"{record.topic} carries {event.type}, not a travel event")
        return [Emit(follow_up(map_trip_request(travel), event, source=SOURCE, origin="oa"))]

    async def on_trip_command(self, record: RawRecord) -> list[Output]:
        """Create the validated leave, or refuse it on revocation; announce what changed."""
        event, command = decode_as(
            record, BusinessTripRequestedV1, "a trip command", self.deps.keys
        )
        erp = await self.deps.connections.erp()
        key = command.oa_instance_code
        if command.action == "create":
            employee_id = await _erp_employee(erp, command.employee)
            payload = leave_payload(command, employee_id=employee_id)
        elif await _leave_exists(erp, key):
            payload = {"state": "refused"}
        else:
            log.info("trip %s revoked before it reached the ERP: nothing to cancel", key)
            return []
        result = await erp.apply(
            SinkCommand("hr.leave", key, payload, idempotency_key=event.id,
                        correlation_id=event.correlationid)
        )  # fmt: skip
        leave_id = int(result.external_ids["odoo_id"])
        self.deps.xref.record(f"trip:{key}", oa=key, erp=str(leave_id))
        if result.outcome is Outcome.UNCHANGED:
            return []  # a repeated command: the record already says so
        recorded = map_trip_recorded(
            command, leave_id=leave_id, erp_state=result.external_ids.get("state", ""),
            recorded_at=self.deps.now(),
        )  # fmt: skip
        return [Emit(follow_up(recorded, event, source=SOURCE, origin="erp"))]
