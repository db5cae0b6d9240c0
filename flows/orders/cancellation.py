"""Pure rules of CRM cancellations: which CRM rows ask for one, and whether the ERP may cancel.

A CRM order asks for a cancellation once its `Status` is `Cancelled` after it was sent to the
ERP, unless its `ErpStatus__c` says the ERP cancelled it (bizbus writes both when the ERP
cancels first). That test, not the row's last editor, tells a person's cancellation from our
own write: a status write-back landing after the person's edit makes us the last editor. The
ERP order may be cancelled while it is a quotation or a confirmed order with nothing made or
delivered yet: no manufacturing order started (progress/to_close/done) and no done
outgoing delivery. A locked (`done`) order is refused too. No I/O here.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from bizbus.connectors.fields import text
from bizbus.flows.shared import CRM_ORDER_CANCELLED, CRM_STATUS
from bizbus.schemas import OrderCancellationRequestedV1, OrderStatus

__all__ = [
    "CANCELLED",
    "CancelDecision",
    "cancel_decision",
    "cancellation_request",
    "refusal_note",
]

CANCELLED = CRM_ORDER_CANCELLED
_CANCELLABLE = ("draft", "sent", "sale")
_STARTED = ("progress", "to_close", "done")
Record = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class CancelDecision:
    """What to do with a cancellation: `cancel` it, it is `already` done, or `refuse` (why)."""

    action: Literal["cancel", "already", "refuse"]
    reason: str | None = None


def cancellation_request(
    row: Record, *, sent: bool, now: datetime
) -> OrderCancellationRequestedV1 | None:
    """Return the cancellation a polled CRM order row asks for, or None.

    `sent`: the order reached the ERP (it has an ERP reference, or this flow placed it).
    """
    if row.get("IsDeleted") is True or row.get("Status") != CANCELLED:
        return None
    if row.get("ErpStatus__c") == CRM_STATUS[OrderStatus.CANCELLED]:
        return None  # the ERP cancelled it (and we wrote it so): nothing to ask
    ref = text(row.get("ErpOrderRef__c"))
    if not (sent or ref):
        return None  # never sent: nothing to cancel in the ERP
    return OrderCancellationRequestedV1(
        crm_order_id=str(row["Id"]), erp_order_ref=ref, requested_at=now
    )


def cancel_decision(
    order: Record, productions: Sequence[Record], pickings: Sequence[Record]
) -> CancelDecision:
    """Decide from an ERP sale order and its MOs and pickings whether it may be cancelled."""
    state = order.get("state")
    if state == "cancel":
        return CancelDecision("already")
    if state not in _CANCELLABLE:
        return CancelDecision("refuse", f"{order.get('name')} is locked ({state})")
    shipped = sorted(
        str(p.get("name"))
        for p in pickings
        if p.get("picking_type_code") == "outgoing" and p.get("state") == "done"
    )
    if shipped:
        return CancelDecision("refuse", f"{order.get('name')} is delivered ({', '.join(shipped)})")
    started = sorted(str(mo.get("name")) for mo in productions if mo.get("state") in _STARTED)
    if started:
        return CancelDecision(
            "refuse", f"{order.get('name')} is in production ({', '.join(started)})"
        )
    return CancelDecision("cancel")


def refusal_note(reason: str) -> str:
    """The note a refused cancellation leaves on the CRM order (at most 255 characters)."""
    return f"Cancellation refused by the ERP: {reason}"[:255]
