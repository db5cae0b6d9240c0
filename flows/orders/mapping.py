"""Pure mapping of the orders flow: CRM Order rows → OrderPlacedV1 → ERP sales-order commands.

A CRM order is placed once it is `Activated` and has no ERP order reference yet (an order that
has one was sent already: our write-back, or a pre-existing order). Lines carry the CRM product's
`ProductCode` as the model code (= ERP `default_code`), the quantity and the agreed unit price.
"""

import hashlib
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from bizbus.connectors.errors import MappingError
from bizbus.connectors.fields import text
from bizbus.connectors.salesforce.soql import parse_datetime
from bizbus.flows.shared import customer_ref
from bizbus.schemas import (
    Money,
    OrderLine,
    OrderPlacedV1,
    OrderStatus,
    OrderUpdateRequestedV1,
    SalesOrderRequestedV1,
    SalesRep,
)

__all__ = [
    "ACTIVATED",
    "line_payloads",
    "order_digest",
    "order_update",
    "placed_order",
    "product_ids",
    "sale_order_payload",
    "sales_order_command",
    "skip_reason",
]

ACTIVATED = "Activated"
DEFAULT_CURRENCY = "CNY"


def _decimal(value: Any, what: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise MappingError(f"crm: order {what} is not a number") from None
    if not number.is_finite():
        raise MappingError(f"crm: order {what} is not a finite number")
    return number


def items_of(row: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Return an order row's items (`OrderItems.records`, as the feed attaches them)."""
    items = row.get("OrderItems")
    records = items.get("records") if isinstance(items, Mapping) else None
    return [item for item in records or [] if isinstance(item, Mapping)]


def skip_reason(row: Mapping[str, Any], *, deleted: bool) -> str | None:
    """Return why a polled CRM order row is not (or no longer) to be placed, or None."""
    if deleted or row.get("IsDeleted") is True:
        return "deleted"
    if row.get("Status") != ACTIVATED:
        return f"status {row.get('Status')!r}"
    if text(row.get("ErpOrderRef__c")):
        return "already has an ERP order"
    return None


def product_ids(row: Mapping[str, Any]) -> list[str]:
    """Return the distinct Product2 ids of an order's items."""
    return sorted({str(item["Product2Id"]) for item in items_of(row) if item.get("Product2Id")})


def _line(
    number: int, item: Mapping[str, Any], products: Mapping[str, Mapping[str, Any]], currency: str
) -> OrderLine:
    product = products.get(str(item.get("Product2Id") or ""))
    code = text(product.get("ProductCode")) if product is not None else None
    if not code:
        raise MappingError(
            f"crm: order item {item.get('Id')} has a product without a ProductCode "
            "(the model code the ERP knows it by)"
        )
    name = text(item.get("Description")) or (text(product.get("Name")) if product else None) or code
    return OrderLine(
        line_no=number,
        model_code=code.upper(),
        product_name=name,
        quantity=_decimal(item.get("Quantity"), "item quantity"),
        unit_price=Money(amount=_decimal(item.get("UnitPrice"), "unit price"), currency=currency),
    )


def placed_order(
    row: Mapping[str, Any],
    *,
    account: Mapping[str, Any],
    owner: SalesRep,
    products: Mapping[str, Mapping[str, Any]],
) -> OrderPlacedV1:
    """Return the placed order of an activated CRM Order row.

    Args:
        row: The Order row with its `OrderItems`.
        account: The order's Account (`Id`, `Name`, `AccountNumber`, `ErpCustomerRef__c`).
        owner: The order's owner.
        products: Product2 rows (`ProductCode`, `Name`) by id.

    Raises:
        MappingError: No items, an item whose product has no code, or a bad number.
    """
    order_id = text(row.get("Id"))
    if not order_id:
        raise MappingError("crm: order row without an Id")
    items = sorted(items_of(row), key=lambda i: (str(i.get("OrderItemNumber") or ""), str(i["Id"])))
    if not items:
        raise MappingError(f"crm: activated order {order_id} has no items")
    currency = text(row.get("CurrencyIsoCode")) or DEFAULT_CURRENCY
    lines = tuple(_line(n, item, products, currency) for n, item in enumerate(items, start=1))
    total = sum((line.quantity * line.unit_price.amount for line in lines), Decimal(0))
    if row.get("TotalAmount") is not None:
        total = _decimal(row["TotalAmount"], "total")
    end = text(row.get("EndDate"))
    return OrderPlacedV1(
        crm_order_id=order_id,
        order_number=text(row.get("OrderNumber")) or order_id,
        account_id=str(row.get("AccountId") or account.get("Id")),
        account_number=customer_ref({**account, "Id": row.get("AccountId")}),
        customer_name=text(account.get("Name")) or str(row.get("AccountId")),
        owner=owner,
        customer_po=text(row.get("PoNumber")),
        order_date=date.fromisoformat(str(row["EffectiveDate"])[:10]),
        requested_delivery_date=date.fromisoformat(end[:10]) if end else None,
        currency=currency,
        lines=lines,
        total_amount=Money(amount=total, currency=currency),
        placed_at=parse_datetime(str(row.get("LastModifiedDate") or row["SystemModstamp"])),
    )


def order_digest(order: OrderPlacedV1) -> str:
    """Return a digest of what the ERP would be asked for (not when it was seen)."""
    content = order.model_dump(mode="json", exclude={"placed_at"})
    return hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


def sales_order_command(order: OrderPlacedV1) -> SalesOrderRequestedV1:
    """Return the ERP sales order a placed CRM order asks for."""
    return SalesOrderRequestedV1(
        crm_order_id=order.crm_order_id,
        crm_order_number=order.order_number,
        customer_ref=order.account_number or f"CRM-{order.account_id}",
        order_date=order.order_date,
        currency=order.currency,
        lines=order.lines,
        note=f"CRM PO {order.customer_po}" if order.customer_po else None,
        owner=order.owner,
    )


def line_payloads(lines: Sequence[OrderLine]) -> list[dict[str, Any]]:
    """Return the Odoo `sale.order` line payloads of order lines (model code, agreed price)."""
    return [
        {
            "product_default_code": line.model_code,
            "product_uom_qty": line.quantity,
            "price_unit": line.unit_price.amount,
            "discount": line.discount_percent,
            "name": line.product_name,
        }
        for line in lines
    ]


def sale_order_payload(command: SalesOrderRequestedV1) -> dict[str, Any]:
    """Return the Odoo `sale.order` command payload: customer, lines at agreed prices, confirm."""
    return {
        "partner_ref": command.customer_ref,
        "origin": f"CRM {command.crm_order_number}",
        "order_line": line_payloads(command.lines),
        "confirm": True,
    }


def order_update(command: SalesOrderRequestedV1, erp_order_name: str) -> OrderUpdateRequestedV1:
    """Return the CRM write-back of an accepted order: ERP order number, status accepted."""
    return OrderUpdateRequestedV1(
        crm_order_id=command.crm_order_id,
        erp_order_ref=erp_order_name,
        status=OrderStatus.ACCEPTED,
    )
