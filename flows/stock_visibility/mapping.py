"""Stock levels from ERP rows, and the CRM availability they make: pure functions, no I/O.

A level is per product model and warehouse: on hand and reserved summed over the warehouse's
internal quants, incoming and the next planned finish from its open manufacturing orders. Levels
are compared as text (`level_values`), so a re-read that finds the same level publishes nothing.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import JsonValue

from bizbus.schemas import StockChangedV1

__all__ = [
    "AVAILABLE",
    "INCOMING",
    "NEXT_DATE",
    "OPEN_PRODUCTION",
    "Availability",
    "LevelValues",
    "Trigger",
    "availability",
    "changed_fields",
    "level_values",
    "product_id_of",
    "production_domain",
    "quant_domain",
    "reason_of",
    "rows_by_product",
    "stock_level",
]

OPEN_PRODUCTION = ("confirmed", "progress", "to_close")
# The CRM Product2 fields bizbus owns for availability (custom fields of the org).
AVAILABLE = "Available_Quantity__c"
INCOMING = "Incoming_Quantity__c"
NEXT_DATE = "Next_Availability_Date__c"

Trigger = Literal["quant", "production"]
LevelValues = dict[str, str | None]
"""A level as text: on_hand, reserved, incoming, next (ISO datetime or None)."""


def product_id_of(value: Any) -> int | None:
    """The id of a many2one value (``[id, name]`` or a bare id); None when unset."""
    if isinstance(value, list) and value:
        value = value[0]
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def quant_domain(product_ids: Sequence[int], warehouse: str) -> list[Any]:
    """Quants of the products in the warehouse's internal locations (``<code>/...``)."""
    return [("product_id", "in", list(product_ids)), ("location_id.usage", "=", "internal"),
            ("location_id.complete_name", "=like", f"{warehouse}/%")]  # fmt: skip


def production_domain(product_ids: Sequence[int]) -> list[Any]:
    """Manufacturing orders of the products that are still to finish."""
    return [("product_id", "in", list(product_ids)), ("state", "in", list(OPEN_PRODUCTION))]


def rows_by_product(rows: Sequence[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    """Group rows read for several products by their product id (many2one or id)."""
    grouped: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        product = product_id_of(row.get("product_id"))
        if product is not None:
            grouped.setdefault(product, []).append(row)
    return grouped


def _qty(value: Any) -> Decimal:
    """An Odoo float as a non-negative decimal (False and negative quants count as 0)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return Decimal(0)
    amount = Decimal(str(value))
    return amount if amount > 0 else Decimal(0)


def _text(amount: Decimal) -> str:
    return format(amount.normalize(), "f")


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def level_values(quants: list[dict[str, Any]], productions: list[dict[str, Any]]) -> LevelValues:
    """The level the rows make, as comparable text."""
    on_hand = sum((_qty(q.get("quantity")) for q in quants), Decimal(0))
    reserved = sum((_qty(q.get("reserved_quantity")) for q in quants), Decimal(0))
    incoming = sum((_qty(mo.get("product_qty")) for mo in productions), Decimal(0))
    finishes = [when for mo in productions if (when := _when(mo.get("date_finished")))]
    return {
        "on_hand": _text(on_hand),
        "reserved": _text(min(reserved, on_hand)),
        "incoming": _text(incoming),
        "next": min(finishes).isoformat() if finishes else None,
    }


def reason_of(previous: LevelValues | None, current: LevelValues, trigger: Trigger) -> str:
    """What moved the stock, told from the level before and after."""
    if previous is None:
        return "adjustment"
    before, after = Decimal(previous["on_hand"] or 0), Decimal(current["on_hand"] or 0)
    if after > before:
        made = trigger == "production" or previous["incoming"] != current["incoming"]
        return "production" if made else "receipt"
    if after < before:
        return "delivery"
    if previous["reserved"] != current["reserved"]:
        return "reservation"
    return "production" if trigger == "production" else "adjustment"


def stock_level(
    *, code: str, uom: str, warehouse: str, values: LevelValues, reason: str, at: datetime
) -> StockChangedV1:
    """The StockChangedV1 of a level (`at`: when it was read)."""
    return StockChangedV1.model_validate(
        {
            "warehouse_code": warehouse,
            "model_code": code,
            "quantity_on_hand": values["on_hand"],
            "quantity_reserved": values["reserved"],
            "quantity_incoming": values["incoming"],
            "next_available_at": values["next"],
            "uom": uom,
            "reason": reason,
            "changed_at": at,
        }
    )


@dataclass(frozen=True, slots=True)
class Availability:
    """What the CRM product shows: free quantity, incoming quantity, next availability date."""

    code: str
    available: Decimal
    incoming: Decimal
    next_date: date | None

    def crm_fields(self) -> dict[str, JsonValue]:
        """The Product2 field values."""
        return {
            AVAILABLE: float(self.available),
            INCOMING: float(self.incoming),
            NEXT_DATE: self.next_date.isoformat() if self.next_date else None,
        }


def availability(level: StockChangedV1, zone: ZoneInfo) -> Availability:
    """The CRM availability of a level: the next date is the planned finish's local date."""
    free = level.quantity_on_hand - level.quantity_reserved
    finish = level.next_available_at
    return Availability(
        code=level.model_code,
        available=free if free > 0 else Decimal(0),
        incoming=level.quantity_incoming or Decimal(0),
        next_date=finish.astimezone(zone).date() if finish else None,
    )


def _same(current: Any, wanted: JsonValue) -> bool:
    if wanted is None or current is None:
        return current is None and wanted is None
    if isinstance(wanted, float):
        is_number = isinstance(current, int | float) and not isinstance(current, bool)
        return is_number and Decimal(str(current)) == Decimal(str(wanted))
    return str(current)[:10] == str(wanted)


def changed_fields(current: dict[str, Any], wanted: Availability) -> dict[str, JsonValue]:
    """The availability fields whose CRM value differs from `wanted` (empty: nothing to write)."""
    return {
        name: value
        for name, value in wanted.crm_fields().items()
        if not _same(current.get(name), value)
    }
