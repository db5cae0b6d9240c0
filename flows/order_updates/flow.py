"""cmd.crm.order → CRM Order: write back the ERP order number; move the status forward only.

A cancelled status also sets the order's own `Status` to `Cancelled` (a rejected discount sets
it to `Rejected`); an integration note (a refused cancellation or change, the approver's
comment) goes to `IntegrationNote__c`.

`cmd.crm.order` (OrderUpdateRequestedV1, key = CRM order id: one order's updates in order) → the
CRM Order by id (unchanged fields are not written) → OrderStatusChangedV1 on `biz.sales.order`
when the status advanced. Idempotent: a table keeps the last status applied per order, so stale,
repeated or out-of-order statuses change nothing. Dead letters: bad records, unknown orders.
"""

from typing import Any, ClassVar

from bizbus.flows.context import FlowDeps
from bizbus.flows.runtime import spec
from bizbus.flows.runtime.record import RawRecord
from bizbus.flows.runtime.spec import Declaration, Emit, Output, Put, StageSpec
from bizbus.flows.shared import CRM, CRM_ORDER_CANCELLED, CRM_STATUS, decode_as, follow_up
from bizbus.schemas import OrderStatus, OrderStatusChangedV1, OrderUpdateRequestedV1

SOURCE = "bizbus://flows/order-updates"
TOPIC = "cmd.crm.order"
STATUSES = spec.TableSpec(
    "crm-order-status", partitions=6
)  # = cmd.crm.order, whose stage writes it


def order_fields(
    command: OrderUpdateRequestedV1, previous: OrderStatus | None
) -> tuple[dict[str, Any], bool]:
    """Return the CRM fields to write and whether the status advances past `previous`.

    A reasserted status equal to `previous` is written again without being announced again.
    """
    fields: dict[str, Any] = {}
    if command.erp_order_ref:
        fields["ErpOrderRef__c"] = command.erp_order_ref
    advances = command.status is not None and command.status.advances(previous)
    again = command.reassert and command.status is not None and command.status == previous
    if (advances or again) and command.status is not None and CRM_STATUS[command.status]:
        fields["ErpStatus__c"] = CRM_STATUS[command.status]
        if command.status is OrderStatus.CANCELLED:
            fields["Status"] = (
                CRM_ORDER_CANCELLED  # the order itself is withdrawn, wherever it started
            )
    if command.order_status is not None:
        fields["Status"] = command.order_status  # e.g. Rejected: its discount was turned down
    if command.integration_note is not None:
        fields["IntegrationNote__c"] = command.integration_note or None
    return fields, advances


class OrderUpdatesFlow:
    """The CRM order update sink, shared by the orders and fulfilment flows."""

    TABLES: ClassVar[tuple[spec.TableSpec, ...]] = (STATUSES,)

    def __init__(self, deps: FlowDeps, tables: spec.Tables | None = None) -> None:
        self.deps = deps
        self.statuses = (tables or spec.fresh_tables(*self.TABLES))[STATUSES.name]

    def declare(self) -> Declaration:
        """Return the one sink stage."""
        return Declaration(
            stages=(StageSpec("crm-order-updates", TOPIC, self.on_update, CRM),),
            emits=("biz.sales.order",),
        )

    async def on_update(self, record: RawRecord) -> list[Output]:
        """Write the update onto the CRM order; announce a status that moved forward."""
        event, command = decode_as(
            record, OrderUpdateRequestedV1, "an order update", self.deps.keys
        )
        stored = self.statuses.get(command.crm_order_id)
        previous = OrderStatus(stored) if stored else None
        fields, advances = order_fields(command, previous)
        if fields:
            crm = await self.deps.connections.crm()
            await crm.update_by_id("Order", command.crm_order_id, fields)
        if not advances or command.status is None:
            return []
        changed = OrderStatusChangedV1(
            crm_order_id=command.crm_order_id,
            status=command.status,
            previous_status=previous,
            erp_order_ref=command.erp_order_ref,
            changed_at=self.deps.now(),
        )
        return [
            Emit(follow_up(changed, event, source=SOURCE, origin="erp")),
            Put(self.statuses, command.crm_order_id, command.status.value),
        ]
