"""Pure rules of CRM order changes: which CRM rows ask for one, and whether the ERP may apply it.

A sent CRM order (`Activated`, with its ERP order number written back) asks for a change when
its lines (product, quantity, price, discount) or its requested delivery date (`EndDate`) differ
from what was last sent. The fingerprint of that content is read off the polled row itself, so
an unchanged re-read or our own write-back echo costs no call and asks for nothing. The ERP
applies a change under the cancellation rule (nothing made or delivered yet). No I/O here.
"""

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

import orjson

from bizbus.connectors.fields import text
from bizbus.flows.orders.cancellation import cancel_decision
from bizbus.flows.orders.mapping import ACTIVATED, items_of
from bizbus.schemas import OrderChangeRequestedV1, OrderPlacedV1

__all__ = [
    "ChangeDecision",
    "change_decision",
    "change_fingerprint",
    "change_refusal_note",
    "change_request",
    "is_sent",
]

Record = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ChangeDecision:
    """What to do with a change: `change` the ERP order, it is `unchanged`, or `refuse` (why)."""

    action: Literal["change", "unchanged", "refuse"]
    reason: str | None = None


def is_sent(row: Record) -> bool:
    """True for an activated CRM order whose ERP order number came back (a change applies)."""
    return (
        row.get("IsDeleted") is not True
        and row.get("Status") == ACTIVATED
        and bool(text(row.get("ErpOrderRef__c")))
    )


def _number(value: Any) -> str:
    try:
        return str(Decimal(str(value)).normalize())
    except (InvalidOperation, ValueError):
        return str(value)


def change_fingerprint(row: Record) -> str:
    """Return a digest of what a change would carry: the items and the requested delivery date."""
    items = sorted(
        (
            str(item.get("Product2Id") or ""),
            _number(item.get("Quantity")),
            _number(item.get("UnitPrice")),
        )
        for item in items_of(row)
    )
    end = text(row.get("EndDate"))
    content = {"items": items, "end": end[:10] if end else None}
    return hashlib.sha256(orjson.dumps(content)).hexdigest()[:32]


def change_request(
    order: OrderPlacedV1, erp_order_ref: str, now: datetime
) -> OrderChangeRequestedV1:
    """Return the change a sent CRM order asks of its ERP sales order."""
    return OrderChangeRequestedV1(
        crm_order_id=order.crm_order_id,
        erp_order_ref=erp_order_ref,
        commitment_date=order.requested_delivery_date,
        lines=order.lines,
        requested_at=now,
    )


def change_decision(
    order: Record,
    productions: Sequence[Record],
    pickings: Sequence[Record],
    *,
    differs: bool,
) -> ChangeDecision:
    """Decide whether the ERP order takes a change (`differs`: its content is not the ERP's yet).

    An order that has the content already is `unchanged` whatever its state (a redelivery).
    """
    if not differs:
        return ChangeDecision("unchanged")
    verdict = cancel_decision(order, productions, pickings)
    if verdict.action == "already":
        return ChangeDecision("refuse", f"{order.get('name')} is cancelled")
    if verdict.action == "refuse":
        return ChangeDecision("refuse", verdict.reason)
    return ChangeDecision("change")


def change_refusal_note(reason: str) -> str:
    """The note a refused change leaves on the CRM order (at most 255 characters)."""
    return f"Change refused by the ERP: {reason}"[:255]
