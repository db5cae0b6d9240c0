"""Discount approvals of CRM orders through the OA: hold, ask, and act on the decision.

`cmd.erp.sales-order` (a SalesOrderRequestedV1 beyond its salesperson's limit) → held in the
`discount-approvals` table → DiscountApprovalRequestedV1 on `cmd.oa.approval-instance` → an OA
instance (uuid from order id + line fingerprint: one per content) → its decision on
`src.oa.approval-instance` (handler `discount`) → DiscountDecidedV1 on the order's own
`cmd.erp.sales-order` key → approved: the held request is sent again and placed once; rejected:
the CRM order gets `Status` Rejected and the approver's comment. Key: the CRM order id.
"""

import logging
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from bizbus.connectors.base import Cursor, SourceRecord
from bizbus.connectors.errors import ConfigError, SchemaError
from bizbus.connectors.feishu import INSTANCE_ENTITY
from bizbus.connectors.feishu.handlers import DISCOUNT, HANDLER_KEY, handler_of
from bizbus.connectors.odoo import OdooConnector
from bizbus.flows.context import FlowDeps
from bizbus.flows.orders import parking
from bizbus.flows.orders.discounts import (
    REJECTED_STATUS,
    DiscountSettings,
    approval_form,
    approval_request,
    approval_uuid,
    decision_of_status,
    discounted_lines,
    exceeds,
    lines_fingerprint,
    order_of_form,
    rejection_note,
)
from bizbus.flows.runtime import spec
from bizbus.flows.runtime.record import RawRecord
from bizbus.flows.runtime.spec import Emit, Output, Put
from bizbus.flows.runtime.tracing import trace_fields
from bizbus.flows.shared import captured, crm_order_deal, decode, follow_up
from bizbus.schemas import (
    TOPICS,
    DiscountApprovalRequestedV1,
    DiscountDecidedV1,
    Envelope,
    OrderUpdateRequestedV1,
    SalesOrderRequestedV1,
    SourceRecordCapturedV1,
    make_event,
)

__all__ = ["APPROVALS", "DECISIONS", "REQUESTS", "DiscountApprovals", "erp_list_prices"]

log = logging.getLogger("bizbus.flows.orders.approvals")
SOURCE = "bizbus://flows/orders"
COMMANDS = "cmd.erp.sales-order"
REQUESTS = "cmd.oa.approval-instance"
INSTANCES = "src.oa.approval-instance"
# Held orders (order id → fingerprint, state, the request record); written on COMMANDS.
APPROVALS = spec.TableSpec("discount-approvals", TOPICS[COMMANDS].partitions)
# OA instance code → decision announced; written by the stage on the OA instance topic.
DECISIONS = spec.TableSpec("discount-decisions", TOPICS[INSTANCES].partitions)


async def erp_list_prices(erp: OdooConnector, codes: Sequence[str]) -> dict[str, Decimal]:
    """The ERP's list price of each model code it knows (one search_read)."""
    if not codes:
        return {}
    rows = await erp.search_read("product.product", [("default_code", "in", sorted(set(codes)))],
                                 fields=["default_code", "list_price"])  # fmt: skip
    return {
        str(row["default_code"]): Decimal(str(row["list_price"]))
        for row in rows
        if row.get("default_code") and row.get("list_price") not in (None, False)
    }


def _source_record(raw: SourceRecordCapturedV1) -> SourceRecord:
    return SourceRecord(entity=raw.object_name, id=raw.record_id,
                        cursor=Cursor(raw.modified_at, raw.record_id), payload=raw.record,
                        modified_at=raw.modified_at,
                        deleted=raw.change_type == "delete")  # fmt: skip


class DiscountApprovals:
    """The discount gate of the orders flow: its two tables and three handlers."""

    def __init__(self, deps: FlowDeps, settings: DiscountSettings, tables: spec.Tables) -> None:
        self.deps = deps
        self.settings = settings
        self.held = tables[APPROVALS.name]
        self.decisions = tables[DECISIONS.name]

    async def gate(
        self, record: RawRecord, event: Envelope[Any], command: SalesOrderRequestedV1
    ) -> tuple[bool, list[Output]]:
        """Whether the order is held, and the outputs that hold it or clear a stale hold.

        A hold of other lines (the order changed since it was asked about) is cleared, so a
        late decision about them releases nothing.
        """
        if not self.settings.enabled:
            return False, []
        key, fingerprint = command.crm_order_id, lines_fingerprint(command)
        held = self.held.get(key)
        if held is not None and held["fingerprint"] == fingerprint:
            # approved: this is the request released by the decision (or a redelivery of it)
            return held["state"] != "approved", []
        clear: list[Output] = [] if held is None else [Put(self.held, key, None)]
        limit = self.settings.limit_for(command.owner.role if command.owner else None)
        if limit is None:
            return False, clear
        erp = await self.deps.connections.erp()
        prices = await erp_list_prices(erp, [line.model_code for line in command.lines])
        lines = discounted_lines(command.lines, prices)
        if not exceeds(lines, limit):
            return False, clear
        request = approval_request(command, lines, limit)
        log.info("CRM order %s held: a discount beyond %s%% needs an OA approval", key, limit)
        entry = parking.park(None, record, event_id=event.id, missing=(), reason="discount",
                             now=self.deps.clock())  # fmt: skip
        entry.update(fingerprint=fingerprint, state="pending")
        emit = Emit(follow_up(request, event, source=SOURCE, origin="crm"))
        return True, [emit, Put(self.held, key, entry)]

    def on_decided(self, event: Envelope[Any], decided: DiscountDecidedV1) -> list[Output]:
        """Release an approved order (its request sent again), or reject it in the CRM."""
        key = decided.crm_order_id
        held = self.held.get(key)
        if held is None or held["fingerprint"] != decided.fingerprint:
            return []  # the order changed or was cancelled since it was asked about
        if held["state"] != "pending":
            return []  # decided already (a redelivered decision)
        log.info("CRM order %s discount %s in the OA", key, decided.decision)
        entry = {**held, "state": decided.decision}
        if decided.decision == "approved":
            request, _ = parking.retry_event(held, self.deps.keys)
            # Sent on the same key: handled after this decision's Put, so the gate lets it by.
            return [Emit(request, COMMANDS), Put(self.held, key, entry)]
        note = rejection_note(decided.comment)
        update = OrderUpdateRequestedV1(crm_order_id=key, order_status=REJECTED_STATUS,
                                        integration_note=note)  # fmt: skip
        return [Emit(follow_up(update, event, source=SOURCE, origin="oa")),
                Put(self.held, key, entry)]  # fmt: skip

    def forget(self, key: str) -> list[Output]:
        """A cancelled order: drop what it was held for, so a late approval places nothing."""
        return [Put(self.held, key, None)] if self.held.get(key) is not None else []

    async def on_request(self, record: RawRecord) -> list[Output]:
        """File the OA approval instance of a held order (once per uuid, whatever redelivers)."""
        request = decode(record, self.deps.keys).data
        if not isinstance(request, DiscountApprovalRequestedV1):
            return []  # a conflict approval: the catalog flow's
        oa = await self.deps.connections.oa()
        code = oa.settings.code_of(DISCOUNT)
        if code is None or not self.settings.applicant:
            raise ConfigError(
                "discount approvals need BIZBUS_OA_HANDLERS to map an approval code to "
                "`discount` and BIZBUS_DISCOUNT_APPLICANT to name who files them"
            )
        uuid = approval_uuid(request.crm_order_id, request.fingerprint)
        instance = await oa.create_instance(code, self.settings.applicant, approval_form(request),
                                            uuid=uuid)  # fmt: skip
        if instance:
            self.deps.xref.record(f"discount:{request.crm_order_id}", crm=request.crm_order_id,
                                  oa=instance)  # fmt: skip
        log.info("CRM order %s discount approval filed in the OA (uuid %s)",
                 request.crm_order_id, uuid)  # fmt: skip
        return []

    async def on_instance(self, record: RawRecord) -> list[Output]:
        """A decided discount instance → DiscountDecidedV1 on its order's key, once."""
        event, raw = captured(record, self.deps.keys)
        if raw.system != "oa":
            raise SchemaError(f"{record.topic} carries a {raw.system} record, not an OA record")
        if raw.object_name != INSTANCE_ENTITY or not await self._claimed(raw.record):
            return []
        status = raw.record.get("status")
        code = raw.record_id
        if decision_of_status(status if isinstance(status, str) else "") is None:
            return []
        if self.decisions.get(code) is not None:
            return []  # announced already
        oa = await self.deps.connections.oa()
        detail, outcome = await oa.decision(_source_record(raw))
        decision = decision_of_status(outcome.status)
        order = order_of_form(detail.widgets)
        if decision is None:
            return []
        if order is None:
            raise SchemaError(f"oa: discount instance {code} carries no CRM order id and lines")
        decided = DiscountDecidedV1(
            crm_order_id=order[0], fingerprint=order[1], decision=decision,
            comment=outcome.comment, oa_instance_code=code,
            decided_at=outcome.decided_at or raw.modified_at,
        )  # fmt: skip
        deal = crm_order_deal(order[0])
        announced = make_event(decided, source=SOURCE, correlationid=deal, causationid=event.id,
                               origin="oa", **trace_fields(event))  # fmt: skip
        return [Emit(announced), Put(self.decisions, code, decision)]

    async def _claimed(self, payload: Mapping[str, Any]) -> bool:
        claims: Mapping[str, str] = {}
        if not isinstance(payload.get(HANDLER_KEY), str):  # published before handlers existed
            claims = (await self.deps.connections.oa()).settings.claims()
        return handler_of(payload, claims) == DISCOUNT
