"""Catalog conflicts to people: routing, the OA task's form and uuid, the decision's mapping."""

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from bizbus.flows.catalog import CatalogFlow
from bizbus.flows.catalog.approvals import (
    conflict_form,
    conflict_of_form,
    conflict_uuid,
    resolution_of_status,
)
from bizbus.flows.catalog.mapping import conflict_of, resolution_of
from bizbus.flows.catalog.ownership import CatalogSettings
from bizbus.schemas import (
    ConflictDecisionRequestedV1,
    FieldConflictDecidedV1,
    FieldConflictDetectedV1,
)
from tests.unit.test_flows_fakes import FakeErp, deps, emitted, event_record

CODE = "HL-CK6150"
AT = datetime(2026, 12, 2, 3, tzinfo=UTC)


def to_oa() -> CatalogSettings:
    return CatalogSettings(conflicts_to="oa", conflict_applicant="f8ca557e")


def conflict(settings: CatalogSettings, edited: Any = "120000.00") -> FieldConflictDetectedV1:
    return conflict_of(CODE, "list_price", edited_in="crm", obj="PricebookEntry",
                       record_id="01u000000000001AAA", edited=edited, owner_value="128000.00",
                       detected_at=AT, settings=settings)  # fmt: skip


def test_by_default_the_policy_settles_a_conflict_at_once() -> None:
    assert resolution_of(CatalogSettings()) == "restore-owner-value"
    assert resolution_of(CatalogSettings(conflict_policy="last-writer-wins")) == "accept-edit"
    assert resolution_of(to_oa()) == "ask-people"


def test_routing_to_the_oa_needs_someone_to_file_the_tasks() -> None:
    with pytest.raises(ValidationError, match="conflict_applicant"):
        CatalogSettings(conflicts_to="oa")


def test_one_task_per_conflicting_edit() -> None:
    first = conflict(to_oa())
    assert conflict_uuid(first) == conflict_uuid(conflict(to_oa()))
    assert conflict_uuid(first) != conflict_uuid(conflict(to_oa(), edited="99999.00"))


def test_the_form_asks_whether_to_take_the_edit_and_carries_the_conflict() -> None:
    asked = conflict(to_oa())
    form = conflict_form(asked)
    assert (form["edited_value"], form["owner_value"]) == ("CRM: 120000.00", "ERP: 128000.00")
    assert "同意: 采用 CRM 值 (写入 ERP)" in form["question"]
    assert "拒绝: 保留 ERP 值 (写回 CRM)" in form["question"]
    widgets = [{"custom_id": key, "value": value} for key, value in form.items()]
    assert conflict_of_form(widgets) == asked
    assert conflict_of_form(widgets[:3]) is None


@pytest.mark.parametrize(
    ("status", "resolution"),
    [("APPROVED", "accept-edit"), ("REJECTED", "restore-owner-value"), ("PENDING", None),
     ("CANCELED", None)],
)  # fmt: skip
def test_approved_takes_the_edit_and_rejected_keeps_the_owners_value(
    status: str, resolution: str | None
) -> None:
    assert resolution_of_status(status) == resolution


class RecordingWriters:
    def __init__(self) -> None:
        self.resolved: list[FieldConflictDetectedV1] = []

    async def resolve(self, conflict: FieldConflictDetectedV1) -> None:
        self.resolved.append(conflict)


def routed_flow() -> tuple[CatalogFlow, RecordingWriters]:
    flow = CatalogFlow(deps(erp=FakeErp()), settings=to_oa())
    writers = RecordingWriters()
    flow.writers = writers  # type: ignore[assignment]
    return flow, writers


async def test_a_conflict_for_people_asks_the_oa_and_writes_nothing() -> None:
    flow, writers = routed_flow()
    outputs = await flow.resolve_conflict(
        event_record(conflict(to_oa()), "biz.catalog.field-conflict")
    )
    [request] = emitted(outputs)
    assert isinstance(request.data, ConflictDecisionRequestedV1)
    assert request.data.conflict.resolution == "ask-people" and writers.resolved == []


async def test_the_decision_goes_through_the_conflict_writer() -> None:
    flow, writers = routed_flow()
    decided = FieldConflictDecidedV1(conflict=conflict(to_oa()), resolution="accept-edit",
                                oa_instance_code="I-1", decided_at=AT)  # fmt: skip
    assert await flow.resolve_conflict(event_record(decided, "biz.catalog.field-conflict")) == []
    [applied] = writers.resolved
    assert (applied.resolution, applied.edited_value) == ("accept-edit", "120000.00")


def test_the_oa_stages_exist_only_when_conflicts_go_to_the_oa() -> None:
    names = {stage.name for stage in routed_flow()[0].declare().stages}
    assert {"catalog-conflict-approval-requests", "catalog-conflict-decisions"} <= names
    plain = CatalogFlow(deps(erp=FakeErp()), settings=CatalogSettings()).declare()
    assert len(plain.stages) == 10
