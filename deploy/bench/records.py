"""The records the bench feeds its stages: real events, encoded as the flows encode them.

Placed CRM orders (`OrderPlacedV1`, ~1 KB with Chinese names and two lines) keyed over many
order ids, and ERP sales-order commands (`SalesOrderRequestedV1`) for customers and products
the sandbox ERP's seed holds, in revisions whose ERP effect shows the order they were applied in.
"""

from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from bizbus.deploy.sandbox.company import CURRENCY, CUSTOMERS, employee, product
from bizbus.schemas import (
    Headers,
    OrderPlacedV1,
    SalesOrderRequestedV1,
    encode_record,
    make_event,
)

__all__ = [
    "ORDER_LINES",
    "Record",
    "order_id",
    "placed_orders",
    "revision_of",
    "sales_order_commands",
]

Record = tuple[bytes, bytes, Headers]
"""Key, value and headers of one Kafka record."""

SOURCE = "bizbus://deploy/bench"
# A spare part and installation days: stock moves and a service line on every confirm, both
# seeded in the sandbox ERP (deploy/sandbox/company.py).
ORDER_LINES = (("HL-SM-7.5", Decimal(4)), ("HL-SVC-INST", Decimal(2)))
_REVISION = "/r"


def order_id(tag: str, number: int) -> str:
    """Return a CRM order id (Salesforce-like, 18 characters) unique to a run's `tag`."""
    return f"801{tag[:5]:0>5}{number:010d}"


def _lines() -> list[dict[str, Any]]:
    lines = []
    for number, (code, quantity) in enumerate(ORDER_LINES, start=1):
        model = product(code)
        lines.append(
            {
                "line_no": number,
                "model_code": code,
                "product_name": model.name,
                "quantity": str(quantity),
                "unit_price": {"amount": str(model.list_price), "currency": CURRENCY},
                "discount_percent": "0",
            }
        )
    return lines


def _placed(crm_order_id: str, number: int) -> OrderPlacedV1:
    buyer = CUSTOMERS[number % len(CUSTOMERS)]
    owner = employee(buyer.salesperson)
    lines = _lines()
    total = sum(Decimal(line["quantity"]) * Decimal(line["unit_price"]["amount"]) for line in lines)
    return OrderPlacedV1.model_validate(
        {
            "crm_order_id": crm_order_id,
            "order_number": f"{number:08d}",
            "account_id": f"001BENCH{number % len(CUSTOMERS):010d}",
            "account_number": buyer.number,
            "customer_name": buyer.name,
            "owner": {
                "user_id": f"005BENCH{owner.number}",
                "name": owner.name,
                "email": owner.email,
                "employee_no": owner.number,
            },
            "customer_po": f"PO-{number:08d}",
            "order_date": date(2025, 5, 12),
            "requested_delivery_date": date(2025, 6, 30),
            "currency": CURRENCY,
            "lines": lines,
            "total_amount": {"amount": str(total), "currency": CURRENCY},
            "shipping_address": {
                "country": "CN",
                "province": "江苏省",
                "city": buyer.city,
                "street": buyer.street,
                "postal_code": "215123",
            },
            "placed_at": datetime(2025, 5, 12, 7, 20, 31, tzinfo=UTC),
        }
    )


def _traceparent(number: int) -> str:
    """Return a W3C traceparent, as every event a worker makes carries one (its own trace)."""
    return f"00-{number + 1:032x}-{number + 1:016x}-01"


def placed_orders(count: int, *, keys: int, tag: str) -> list[Record]:
    """Return `count` encoded placed-order events over `keys` order ids (each a new event id).

    Every record is a real event (validated, then encoded by `encode_record`), so a stage
    decodes exactly what it would in production.
    """
    records = []
    payloads: dict[int, OrderPlacedV1] = {}  # one validated payload per key; events are new
    for number in range(count):
        key = number % max(1, keys)
        if key not in payloads:
            payloads[key] = _placed(order_id(tag, key), key)
        event = make_event(
            payloads[key],
            source=SOURCE,
            correlationid=f"bench-{tag}-{key}",
            origin="crm",
            traceparent=_traceparent(number),
        )
        records.append(encode_record(event))
    return records


def sales_order_commands(keys: Sequence[str], *, revisions: int) -> list[Record]:
    """Return ERP sales-order commands: each key's `revisions` in order, keys one after another.

    Revision r sets the order's CRM number to `<key>/r<r>`, which the ERP keeps as the sales
    order's `origin`: its effects log then shows in which order each key's commands landed.
    """
    records: list[Record] = []
    for index, key in enumerate(keys):
        buyer = CUSTOMERS[index % len(CUSTOMERS)]
        for revision in range(1, revisions + 1):
            command = SalesOrderRequestedV1.model_validate(
                {
                    "crm_order_id": key,
                    "crm_order_number": f"{key}{_REVISION}{revision}",
                    "customer_ref": buyer.number,
                    "order_date": date(2025, 5, 12),
                    "currency": CURRENCY,
                    "lines": _lines(),
                }
            )
            event = make_event(
                command, source=SOURCE, correlationid=f"bench-{key}", origin="bizbus",
                traceparent=_traceparent(len(records)),
            )  # fmt: skip
            records.append(encode_record(event))
    return records


def revision_of(origin: object) -> int | None:
    """Return the revision an ERP sales order's `origin` names (`CRM <key>/r<n>`), or None."""
    text = str(origin or "")
    head, sep, tail = text.rpartition(_REVISION)
    return int(tail) if sep and head and tail.isdigit() else None
