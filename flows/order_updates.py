"""cmd.crm.order → CRM Order: write back the ERP order number; move the status forward only.

Source: `cmd.crm.order` (OrderUpdateRequestedV1, key = CRM order id, so one order's updates stay
in order). A table keeps the last status applied per order: a status that does not advance it
(stale, repeated or out of order) changes nothing, so the CRM status never moves backwards.
Writes go to the CRM by record id (unchanged fields are not written: idempotent). A status that
moved is announced as OrderStatusChangedV1 on `biz.sales.order`. Unknown order → dead letter.
"""

from datetime import UTC, datetime
from typing import Any

from bizbus.connectors.errors import SchemaError
from bizbus.flows.context import FlowContext
from bizbus.flows.runtime.record import RawRecord
from bizbus.flows.shared import follow_up
from bizbus.schemas import (
    OrderStatus,
    OrderStatusChangedV1,
    OrderUpdateRequestedV1,
    decode_record,
)

TOPIC = "cmd.crm.order"
STATUS_TABLE = "crm-order-status"
# ErpStatus__c picklist values of the CRM; None: the status has no CRM value of its own.
CRM_STATUS: dict[OrderStatus, str | None] = {
    OrderStatus.PLACED: None,
    OrderStatus.ACCEPTED: "Confirmed",
    OrderStatus.IN_PRODUCTION: "InProduction",
    OrderStatus.SHIPPED: "Shipped",
    OrderStatus.INVOICED: "Invoiced",
    OrderStatus.COMPLETED: "Invoiced",
    OrderStatus.CANCELLED: "Cancelled",
}


def order_fields(
    command: OrderUpdateRequestedV1, previous: OrderStatus | None
) -> tuple[dict[str, Any], bool]:
    """Return the CRM fields to write and whether the status advances past `previous`."""
    fields: dict[str, Any] = {}
    if command.erp_order_ref:
        fields["ErpOrderRef__c"] = command.erp_order_ref
    advances = command.status is not None and command.status.advances(previous)
    if advances and command.status is not None and CRM_STATUS[command.status]:
        fields["ErpStatus__c"] = CRM_STATUS[command.status]
    return fields, advances


def register(ctx: FlowContext) -> None:
    """Declare the CRM order update sink (shared by the orders and fulfilment flows)."""
    statuses: Any = ctx.app.Table(STATUS_TABLE, default=None, partitions=6)

    async def apply_update(record: RawRecord) -> None:
        event = decode_record(record.value, record.headers)
        command = event.data
        if not isinstance(command, OrderUpdateRequestedV1):
            raise SchemaError(f"{TOPIC} carries {event.type}, not an order update")
        stored = statuses.get(command.crm_order_id)
        previous = OrderStatus(stored) if stored else None
        fields, advances = order_fields(command, previous)
        if fields:
            crm = await ctx.connections.crm()
            await crm.update_by_id("Order", command.crm_order_id, fields)
        if not advances or command.status is None:
            return
        statuses[command.crm_order_id] = command.status.value
        changed = OrderStatusChangedV1(
            crm_order_id=command.crm_order_id,
            status=command.status,
            previous_status=previous,
            erp_order_ref=command.erp_order_ref,
            changed_at=datetime.now(UTC),
        )
        await ctx.publish(
            follow_up(changed, event, source="bizbus://flows/order-updates", origin="erp")
        )

    ctx.agent(TOPIC, apply_update, name="crm-order-updates")
