"""Catalog field conflicts settled by people in the OA (`BIZBUS_CATALOG_CONFLICTS_TO=oa`).

`biz.catalog.field-conflict` (resolution `ask-people`) → ConflictDecisionRequestedV1 on
`cmd.oa.approval-instance` → one OA instance per conflict (uuid from the conflict itself) asking
"take the edit?" → its decision on `src.oa.approval-instance` (handler `conflict`) →
FieldConflictDecidedV1 on `biz.catalog.field-conflict` → the catalog's own conflict writer: approved
carries the edit to the owner, rejected writes the owner's value back. Key: the model code.
The form carries the conflict itself, so a decision needs no state but its announcement.
"""

import logging
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import orjson
from pydantic import JsonValue

from bizbus.connectors.base import Cursor, SourceRecord
from bizbus.connectors.errors import ConfigError, SchemaError
from bizbus.connectors.feishu import INSTANCE_ENTITY
from bizbus.connectors.feishu.handlers import CONFLICT, HANDLER_KEY, handler_of
from bizbus.flows.catalog.ownership import CatalogSettings
from bizbus.flows.context import FlowDeps
from bizbus.flows.runtime import spec
from bizbus.flows.runtime.record import RawRecord
from bizbus.flows.runtime.spec import Emit, Output, Put
from bizbus.flows.runtime.tracing import trace_fields
from bizbus.flows.shared import captured, decode, follow_up
from bizbus.schemas import (
    TOPICS,
    ConflictDecisionRequestedV1,
    FieldConflictDecidedV1,
    FieldConflictDetectedV1,
    SourceRecordCapturedV1,
    make_event,
)

__all__ = [
    "DECISIONS",
    "ConflictApprovals",
    "conflict_form",
    "conflict_of_form",
    "conflict_uuid",
    "resolution_of_status",
]

log = logging.getLogger("bizbus.catalog.approvals")
SOURCE = "bizbus://flows/catalog"
REQUESTS = "cmd.oa.approval-instance"
INSTANCES = "src.oa.approval-instance"
# OA instance code → resolution announced; written by the stage on the OA instance topic.
DECISIONS = spec.TableSpec("conflict-decisions", TOPICS[INSTANCES].partitions)
_NAMESPACE = uuid.UUID("0d8e4c7a-2b61-5f93-a4d0-7c3e9b1f6a25")  # bizbus conflict approvals
_SYSTEM = {"crm": "CRM", "erp": "ERP"}


def _shown(value: JsonValue) -> str:
    if value is None:
        return "(空)"
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def conflict_uuid(conflict: FieldConflictDetectedV1) -> str:
    """The OA instance's idempotency uuid: one instance per conflicting edit, ever."""
    return str(uuid.uuid5(_NAMESPACE, conflict.model_dump_json()))


def conflict_form(conflict: FieldConflictDetectedV1) -> dict[str, str]:
    """The OA form (custom id → text): the question, both values, and the conflict itself."""
    edited, owner = _SYSTEM[conflict.edited_in], _SYSTEM[conflict.owner]
    return {
        "model": conflict.model_code,
        "field": conflict.field,
        "question": f"采用 {edited} 的新值? 同意: 采用 {edited} 值 (写入 {owner}); "
        f"拒绝: 保留 {owner} 值 (写回 {edited})",
        "edited_value": f"{edited}: {_shown(conflict.edited_value)}",
        "owner_value": f"{owner}: {_shown(conflict.owner_value)}",
        "conflict": conflict.model_dump_json(),
    }


def conflict_of_form(widgets: Sequence[Mapping[str, Any]]) -> FieldConflictDetectedV1 | None:
    """The conflict a conflict instance's form carries, or None when it carries none."""
    raw = next((w.get("value") for w in widgets if w.get("custom_id") == "conflict"), None)
    if not isinstance(raw, str) or not raw:
        return None
    return FieldConflictDetectedV1.model_validate_json(raw)


def resolution_of_status(status: str) -> Literal["restore-owner-value", "accept-edit"] | None:
    """Approved: take the edit; rejected: keep the owner's value; None: undecided."""
    if status == "APPROVED":
        return "accept-edit"
    if status == "REJECTED":
        return "restore-owner-value"
    return None


def _source_record(raw: SourceRecordCapturedV1) -> SourceRecord:
    return SourceRecord(entity=raw.object_name, id=raw.record_id,
                        cursor=Cursor(raw.modified_at, raw.record_id), payload=raw.record,
                        modified_at=raw.modified_at,
                        deleted=raw.change_type == "delete")  # fmt: skip


class ConflictApprovals:
    """The catalog's OA side: ask about a conflict, turn a decision into FieldConflictDecidedV1."""

    def __init__(self, deps: FlowDeps, settings: CatalogSettings, tables: spec.Tables) -> None:
        self.deps = deps
        self.settings = settings
        self.decisions = tables[DECISIONS.name]

    def ask(self, event: Any, conflict: FieldConflictDetectedV1) -> list[Output]:
        """The request for people to decide a conflict (nothing is written meanwhile)."""
        log.info("%s: %s conflict sent to the OA for a decision", conflict.model_code,
                 conflict.field)  # fmt: skip
        request = ConflictDecisionRequestedV1(conflict=conflict)
        return [Emit(follow_up(request, event, source=SOURCE, origin="bizbus"))]

    async def on_request(self, record: RawRecord) -> list[Output]:
        """File the OA instance of a conflict (once per uuid, whatever redelivers)."""
        event = decode(record, self.deps.keys)
        if not isinstance(event.data, ConflictDecisionRequestedV1):
            return []  # a discount approval: the orders flow's
        conflict = event.data.conflict
        oa = await self.deps.connections.oa()
        code = oa.settings.code_of(CONFLICT)
        applicant = self.settings.conflict_applicant
        if code is None or not applicant:
            raise ConfigError(
                "conflicts to the OA need BIZBUS_OA_HANDLERS to map an approval code to "
                "`conflict` and BIZBUS_CATALOG_CONFLICT_APPLICANT to name who files them"
            )
        instance = await oa.create_instance(code, applicant, conflict_form(conflict),
                                            uuid=conflict_uuid(conflict))  # fmt: skip
        log.info("%s: %s conflict filed in the OA (%s)", conflict.model_code, conflict.field,
                 instance or "filed before")  # fmt: skip
        return []

    async def on_instance(self, record: RawRecord) -> list[Output]:
        """A decided conflict instance → FieldConflictDecidedV1, once."""
        event, raw = captured(record, self.deps.keys)
        if raw.system != "oa":
            raise SchemaError(f"{record.topic} carries a {raw.system} record, not an OA record")
        if raw.object_name != INSTANCE_ENTITY or not await self._claimed(raw.record):
            return []
        status, code = raw.record.get("status"), raw.record_id
        if resolution_of_status(status if isinstance(status, str) else "") is None:
            return []
        if self.decisions.get(code) is not None:
            return []  # announced already
        oa = await self.deps.connections.oa()
        detail, outcome = await oa.decision(_source_record(raw))
        resolution = resolution_of_status(outcome.status)
        if resolution is None:
            return []
        conflict = conflict_of_form(detail.widgets)
        if conflict is None:
            raise SchemaError(f"oa: conflict instance {code} carries no conflict")
        decided = FieldConflictDecidedV1(conflict=conflict, resolution=resolution,
                                    comment=outcome.comment, oa_instance_code=code,
                                    decided_at=outcome.decided_at or raw.modified_at)  # fmt: skip
        announced = make_event(decided, source=SOURCE, correlationid=event.correlationid,
                               causationid=event.id, origin="oa",
                               **trace_fields(event))  # fmt: skip
        return [Emit(announced), Put(self.decisions, code, resolution)]

    async def _claimed(self, payload: Mapping[str, Any]) -> bool:
        claims: Mapping[str, str] = {}
        if not isinstance(payload.get(HANDLER_KEY), str):  # published before handlers existed
            claims = (await self.deps.connections.oa()).settings.claims()
        return handler_of(payload, claims) == CONFLICT
