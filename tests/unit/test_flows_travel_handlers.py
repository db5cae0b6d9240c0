"""Travel flow handlers without Kafka: an OA instance announced once, trips written to the ERP."""

import logging
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest

from bizbus.connectors.approvals import InstanceDetail, TripRequest
from bizbus.connectors.base import ApplyResult, Cursor, Outcome, SourceRecord
from bizbus.connectors.errors import MappingError
from bizbus.connectors.feishu import parse_detail, parse_trip
from bizbus.flows.travel import TravelFlow
from bizbus.flows.travel.mapping import map_trip_request
from bizbus.schemas import (
    BusinessTripRecordedV1,
    BusinessTripRequestedV1,
    TravelApprovedV1,
    TravelRevokedV1,
)
from tests.unit.test_flows_fakes import (
    WHEN,
    Clock,
    FakeErp,
    deps,
    emitted,
    event_record,
    puts,
    settle,
    source_record,
)
from tests.unit.test_flows_travel import APPLICANT, LEADER, approved, recorded_detail

CODE = "32B6361F-2DDB-4906-B9FA-65FEB89F31CA"
TRAVEL_CODE = "7C468A54-8745-2245-9675-08B7C63E7A85"
USERS = {
    "f8ca557e": {"user_id": "f8ca557e", "name": "张伟", "employee_no": "E1001",
                 "enterprise_email": "zhang.wei@hengli-demo.cn"},
    "5d9bd9a1": {"user_id": "5d9bd9a1", "name": "王建国", "employee_no": "E1000"},
}  # fmt: skip


class FakeOa:
    """The OA connector's surface the travel flow uses."""

    def __init__(self, status: str = "APPROVED", **detail: Any) -> None:
        self.detail = {"status": status, **detail}
        self.directory_calls = 0
        self.changed: list[SourceRecord] = []
        self.settings = SimpleNamespace(
            poll_interval_s=60.0, claims=lambda: {TRAVEL_CODE: "travel"}
        )
        self.details = 0

    async def detail_of(self, record: SourceRecord) -> Any:
        self.details += 1
        return parse_detail(recorded_detail(**self.detail))

    def trip_of(self, detail: InstanceDetail) -> TripRequest:
        return parse_trip(detail)

    async def directory_user(self, user_id: str) -> dict[str, Any]:
        self.directory_calls += 1
        if user_id not in USERS:
            raise MappingError(f"oa: the directory has no user {user_id}")
        return USERS[user_id]

    async def changes(self, entity: str, since: Cursor | None) -> AsyncIterator[SourceRecord]:
        for record in self.changed:
            yield record

    async def subscribe_all(self) -> list[str]:
        return ["7C468A54"]


def instance(
    status: str, entity: str = "approval_instance", *, approval: str = "", **extra: Any
) -> Any:
    row = {"instance_code": CODE, "status": status, "id": CODE,
           "approval_code": approval or TRAVEL_CODE, **extra}  # fmt: skip
    return source_record("oa", entity, row, "src.oa.approval-instance")


async def test_only_instances_the_travel_handler_claims_are_read(
    caplog: pytest.LogCaptureFixture,
) -> None:
    oa = FakeOa()
    flow = TravelFlow(deps(oa=oa))
    with caplog.at_level(logging.INFO, logger="bizbus.travel"):
        assert await flow.on_instance(instance("APPROVED", approval="PURCHASE-1")) == []
    [line] = [r for r in caplog.records if "no handler claims" in r.getMessage()]
    assert line.levelno == logging.INFO and "PURCHASE-1" in line.getMessage()
    assert CODE not in line.getMessage()
    # Another handler's form is left to it, quietly; the record's handler beats the settings.
    assert await flow.on_instance(instance("APPROVED", handler="discount")) == []
    assert oa.details == 0, "nothing was read for a form that is not a trip"
    claimed = instance("APPROVED", approval="PURCHASE-1", handler="travel")
    assert isinstance(emitted(await flow.on_instance(claimed))[0].data, TravelApprovedV1)


async def test_an_approved_instance_is_announced_once_with_people_from_the_directory() -> None:
    oa = FakeOa()
    flow = TravelFlow(deps(oa=oa))
    outputs = await flow.on_instance(instance("APPROVED"))
    [event] = emitted(outputs)
    assert isinstance(event.data, TravelApprovedV1)
    assert (event.data.applicant, event.data.approvers) == (APPLICANT, (LEADER,))
    assert puts(outputs) == [(CODE, "approved")] and flow.decisions == {}
    await settle(outputs)
    assert await flow.on_instance(instance("APPROVED")) == [], "announced already"
    calls = oa.directory_calls
    oa.detail = {"status": "REVERTED"}
    [revoked] = emitted(await flow.on_instance(instance("REVERTED")))
    assert (
        isinstance(revoked.data, TravelRevokedV1) and revoked.correlationid == event.correlationid
    )
    assert oa.directory_calls == calls, "directory entries are kept a while"


async def test_pending_instances_and_trip_group_events_announce_nothing() -> None:
    flow = TravelFlow(deps(oa=FakeOa()))
    assert await flow.on_instance(instance("PENDING")) == []
    assert await flow.on_instance(instance("APPROVED", entity="trip_group")) == []
    assert await flow.on_instance(instance("REVERTED")) == [], "never approved: nothing to revoke"


async def test_an_instance_that_moved_on_since_its_event_is_judged_by_its_detail() -> None:
    flow = TravelFlow(deps(oa=FakeOa(status="PENDING")))
    assert await flow.on_instance(instance("APPROVED")) == []


async def test_a_travel_event_asks_the_erp_for_the_trip() -> None:
    flow = TravelFlow(deps())
    [command] = emitted(
        await flow.on_travel(event_record(approved(), "biz.hr.travel", origin="oa"))
    )
    assert isinstance(command.data, BusinessTripRequestedV1) and command.data.action == "create"


def trip_erp(outcome: Outcome = Outcome.CREATED) -> FakeErp:
    result = ApplyResult(outcome, {"odoo_id": "12", "state": "validate"})
    erp = FakeErp({"hr.leave": {12: {"x_external_ref": CODE}}}, apply=lambda command: result)
    erp.known[("hr.employee", "barcode", "E1001")] = 5
    return erp


async def test_an_approved_trip_is_a_validated_leave_of_the_employee_recorded_once() -> None:
    erp = trip_erp()
    flow = TravelFlow(deps(erp=erp, clock=Clock()))
    command = event_record(map_trip_request(approved()), "cmd.erp.business-trip")
    [recorded] = emitted(await flow.on_trip_command(command))
    assert isinstance(recorded.data, BusinessTripRecordedV1) and recorded.data.state == "confirmed"
    assert recorded.data.recorded_at == WHEN
    assert erp.applied[0].payload["employee_id"] == 5
    assert flow.deps.xref.get(f"trip:{CODE}") == {"oa": CODE, "erp": "12"}
    repeated = TravelFlow(deps(erp=trip_erp(Outcome.UNCHANGED)))
    assert await repeated.on_trip_command(command) == []


async def test_a_revocation_refuses_the_leave_or_does_nothing_when_there_is_none() -> None:
    revoke = map_trip_request(approved()).model_copy(update={"action": "cancel"})
    erp = trip_erp()
    await TravelFlow(deps(erp=erp)).on_trip_command(event_record(revoke, "cmd.erp.business-trip"))
    assert erp.applied[0].payload == {"state": "refused"}
    erp = trip_erp()
    erp.rows["hr.leave"].clear()
    flow = TravelFlow(deps(erp=erp))
    assert await flow.on_trip_command(event_record(revoke, "cmd.erp.business-trip")) == []
    assert erp.applied == []


async def test_an_employee_the_erp_does_not_know_is_a_mapping_error() -> None:
    erp = trip_erp()
    erp.known.clear()
    flow = TravelFlow(deps(erp=erp))
    with pytest.raises(MappingError, match="no employee has number E1001"):
        await flow.on_trip_command(
            event_record(map_trip_request(approved()), "cmd.erp.business-trip")
        )


async def test_the_catch_up_feed_reads_once_per_oa_poll_interval() -> None:
    oa, clock = FakeOa(), Clock()
    oa.changed = [SourceRecord("approval_instance", CODE, Cursor(WHEN, CODE), {}, WHEN)]
    flow = TravelFlow(deps(oa=oa, clock=clock))
    assert [r.id async for r in flow.read_catch_up(None)] == [CODE]
    assert [r.id async for r in flow.read_catch_up(None)] == []
    clock.now += 60
    assert [r.id async for r in flow.read_catch_up(None)] == [CODE]
    await flow.subscribe()
