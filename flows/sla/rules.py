"""The business-SLA rules: which events start a watch, which end it, and when it is due.

Pure: an event in, the watch steps it stands for out. Rules (limits from the settings; 0 or
off: not watched):
- `order-to-erp`: a CRM order placed must have an ERP sales order within `sla_order_to_erp_s`.
- `invoice-to-crm`: a posted ERP invoice of a CRM order must show on that order (Invoiced)
  within `sla_invoice_to_crm_s`.
- `trip-to-hr`: an approved trip must have its HR record before its departure date begins
  (`sla_timezone`); a revoked trip is no longer expected.
"""

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bizbus.flows.settings import RuntimeSettings
from bizbus.schemas import (
    BusinessTripRecordedV1,
    Envelope,
    InvoicePostedV1,
    OrderPlacedV1,
    OrderStatus,
    OrderStatusChangedV1,
    SalesOrderUpsertedV1,
    SlaStepObservedV1,
    TravelApprovedV1,
    TravelRevokedV1,
)

__all__ = ["AWAITED", "WATCHED_TOPICS", "SlaLimits", "watch_steps"]

AWAITED = {
    "order-to-erp": "an ERP sales order",
    "invoice-to-crm": "the CRM order marked Invoiced",
    "trip-to-hr": "an HR business-trip record",
}
"""What each rule waits for, as an alert says it."""

WATCHED_TOPICS = (
    "biz.sales.order",
    "biz.sales.sales-order",
    "biz.finance.invoice",
    "biz.hr.travel",
    "biz.hr.business-trip",
)
"""Every topic whose events start or end a watch."""

_INVOICED = (OrderStatus.INVOICED, OrderStatus.COMPLETED)


@dataclass(frozen=True)
class SlaLimits:
    """The rules' limits, read once from the settings."""

    order_to_erp_s: float
    invoice_to_crm_s: float
    trip_to_hr: bool
    zone: ZoneInfo

    @classmethod
    def of(cls, settings: RuntimeSettings) -> "SlaLimits":
        """Return the limits `settings` choose."""
        return cls(
            order_to_erp_s=settings.sla_order_to_erp_s,
            invoice_to_crm_s=settings.sla_invoice_to_crm_s,
            trip_to_hr=settings.sla_trip_to_hr,
            zone=ZoneInfo(settings.sla_timezone),
        )


def _step(
    rule: str, subject: str, record: str, step: str, at: datetime, due_at: datetime | None = None
) -> SlaStepObservedV1:
    return SlaStepObservedV1.model_validate(
        {"rule": rule, "subject": subject, "record": record, "step": step, "at": at,
         "due_at": due_at}
    )  # fmt: skip


def watch_steps(event: Envelope[Any], limits: SlaLimits) -> list[SlaStepObservedV1]:
    """Return the watch steps `event` stands for under the enabled rules (often none)."""
    data = event.data
    steps: list[SlaStepObservedV1] = []
    if limits.order_to_erp_s:
        if isinstance(data, OrderPlacedV1):
            due = data.placed_at + timedelta(seconds=limits.order_to_erp_s)
            label = f"CRM order {data.crm_order_id}"
            steps.append(
                _step("order-to-erp", data.crm_order_id, label, "started", data.placed_at, due)
            )
        elif isinstance(data, SalesOrderUpsertedV1) and data.crm_order_ref:
            label = f"CRM order {data.crm_order_ref} (ERP {data.name})"
            steps.append(_step("order-to-erp", data.crm_order_ref, label, "done", data.modified_at))
    if limits.invoice_to_crm_s:
        if isinstance(data, InvoicePostedV1) and data.crm_order_ref:
            due = data.posted_at + timedelta(seconds=limits.invoice_to_crm_s)
            label = f"CRM order {data.crm_order_ref} (ERP invoice {data.number})"
            steps.append(
                _step("invoice-to-crm", data.crm_order_ref, label, "started", data.posted_at, due)
            )
        elif isinstance(data, OrderStatusChangedV1) and data.status in _INVOICED:
            label = f"CRM order {data.crm_order_id}"
            steps.append(_step("invoice-to-crm", data.crm_order_id, label, "done", data.changed_at))
    if limits.trip_to_hr:
        steps.extend(_trip_steps(data, limits.zone, event.time))
    return steps


def _trip_steps(data: object, zone: ZoneInfo, recorded_at: datetime) -> list[SlaStepObservedV1]:
    if isinstance(data, TravelApprovedV1):
        due = datetime.combine(data.departure_date, time.min, tzinfo=zone)
        label = f"OA trip {data.instance_code}"
        return [_step("trip-to-hr", data.instance_code, label, "started", data.approved_at, due)]
    if isinstance(data, TravelRevokedV1):
        label = f"OA trip {data.instance_code}"
        return [_step("trip-to-hr", data.instance_code, label, "cancelled", data.revoked_at)]
    if isinstance(data, BusinessTripRecordedV1):
        label = f"OA trip {data.oa_instance_code} (ERP {data.erp_trip_id})"
        return [_step("trip-to-hr", data.oa_instance_code, label, "done", recorded_at)]
    return []
