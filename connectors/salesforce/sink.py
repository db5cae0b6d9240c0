"""Salesforce writes: idempotent upsert by External ID, update by id, open-order price flags.

``SinkCommand.external_key`` is a value of the object's key field (``Order`` → ``BizbusKey__c``)
or ``Field=value`` naming another key field or ``Id``. With ``compare`` on, the record is read
first (one GET) and an unchanged write is skipped: an honest UNCHANGED, and no echo to suppress.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from bizbus.connectors.base import ApplyResult, Outcome, SinkCommand
from bizbus.connectors.errors import MappingError, SchemaError
from bizbus.connectors.salesforce.client import SalesforceClient
from bizbus.connectors.salesforce.objects import ObjectSpec, spec_for
from bizbus.connectors.salesforce.soql import format_soql, parse_datetime, select

__all__ = [
    "FlaggedOrders",
    "apply_command",
    "flag_open_orders_on_price",
    "parse_key",
    "resolve_references",
    "same_value",
    "update_record",
]


def parse_key(spec: ObjectSpec, external_key: str) -> tuple[str, str]:
    """Split ``Field=value`` when ``Field`` is ``Id`` or a key field of ``spec``; else a value.

    Raises:
        SchemaError: The key is empty.
    """
    field, sep, value = external_key.partition("=")
    key = (field, value) if sep and field in spec.allowed_keys() else (spec.key_field, external_key)
    if not key[1]:
        raise SchemaError(f"salesforce: empty {key[0]} in a {spec.name} command")
    return key


async def resolve_references(
    client: SalesforceClient, spec: ObjectSpec, payload: Mapping[str, Any]
) -> dict[str, Any]:
    """Replace ``{"Product2": {"ErpProductRef__c": "HL-VMC850"}}`` by ``{"Product2Id": "01t..."}``.

    Raises:
        MappingError: No record has that key (the parent has not been synchronized yet).
    """
    resolved: dict[str, Any] = {}
    for name, value in payload.items():
        target = spec.references.get(name)
        if target is None or not isinstance(value, Mapping):
            resolved[name] = value
            continue
        if len(value) != 1:
            raise SchemaError(f"salesforce: {spec.name}.{name} must name exactly one key field")
        [(field, key)] = value.items()
        id_field, parent = target
        found = await client.find_id(parent, field, key)
        if found is None:
            raise MappingError(f"salesforce: no {parent} with that {field} for {spec.name}")
        resolved[id_field] = found
    return resolved


def same_value(current: Any, wanted: Any) -> bool:
    """True when Salesforce's ``current`` value already equals the ``wanted`` one."""
    if current in (None, "") and wanted in (None, ""):
        return True
    if isinstance(wanted, bool) or isinstance(current, bool):
        return current is wanted
    if isinstance(wanted, datetime) or (isinstance(wanted, str) and "T" in wanted):
        try:
            moment = wanted if isinstance(wanted, datetime) else parse_datetime(wanted)
            return isinstance(current, str) and parse_datetime(current) == moment
        except ValueError:
            return bool(current == wanted)
    if isinstance(wanted, date):
        return bool(current == wanted.isoformat())
    if isinstance(current, int | float) or isinstance(wanted, int | float | Decimal):
        try:
            return Decimal(str(current)) == Decimal(str(wanted))
        except (InvalidOperation, ValueError):
            return False
    return bool(current == wanted)


def _unchanged(current: Mapping[str, Any], fields: Mapping[str, Any]) -> bool:
    return all(same_value(current.get(name), value) for name, value in fields.items())


async def update_record(
    client: SalesforceClient, obj: str, record_id: str, fields: Mapping[str, Any], *, compare: bool
) -> ApplyResult:
    """Update one record by id; UNCHANGED (no write) when ``compare`` finds nothing to change."""
    ids = {"salesforce_id": record_id}
    if compare and fields:
        current = await client.get(obj, record_id, fields=["Id", *fields])
        ids["salesforce_id"] = str(current.get("Id") or record_id)
        if _unchanged(current, fields):
            return ApplyResult(outcome=Outcome.UNCHANGED, external_ids=ids)
    if fields:
        await client.update(obj, record_id, fields)
    return ApplyResult(outcome=Outcome.UPDATED if fields else Outcome.UNCHANGED, external_ids=ids)


async def apply_command(
    client: SalesforceClient, command: SinkCommand, *, compare: bool
) -> ApplyResult:
    """Apply one command idempotently (see the module docstring for ``external_key``).

    Raises:
        SchemaError: Unknown object, or the payload sets the key to another value.
        MappingError: A referenced parent record does not exist.
        RejectedError: Salesforce refused the write, or several records match the key.
    """
    spec = spec_for(command.entity)
    field, value = parse_key(spec, command.external_key)
    fields = await resolve_references(client, spec, command.payload)
    for name in ("Id", field):
        if name in fields and str(fields.pop(name)) != value:
            raise SchemaError(f"salesforce: {spec.name} payload sets {name} unlike its key")
    if field == "Id":
        return await update_record(client, spec.name, value, fields, compare=compare)
    current: dict[str, Any] | None = None
    checked = compare or bool(spec.create_only)
    if checked:
        current = await client.get_by_key(spec.name, field, value, fields=["Id", *fields])
    if current is not None:
        fields = {k: v for k, v in fields.items() if k not in spec.create_only}
        ids = {"salesforce_id": str(current["Id"])}
        if compare and _unchanged(current, fields):
            return ApplyResult(outcome=Outcome.UNCHANGED, external_ids=ids)
    elif checked and spec.name == "PricebookEntry" and "Pricebook2Id" not in fields:
        standard = await client.standard_pricebook_id()
        if standard is None:
            raise MappingError("salesforce: the org has no standard price book")
        fields["Pricebook2Id"] = standard
    result = await client.upsert(spec.name, field, value, fields)
    record_id = result.id or (str(current["Id"]) if current is not None else None)
    if record_id is None:  # API before v46.0 answers an update with 204 and no body
        record_id = await client.find_id(spec.name, field, value)
    ids = {"salesforce_id": record_id} if record_id else {}
    outcome = Outcome.CREATED if result.created else Outcome.UPDATED
    return ApplyResult(outcome=outcome, external_ids=ids)


@dataclass(frozen=True, slots=True)
class FlaggedOrders:
    """What ``flag_open_orders_on_price`` set to ``PriceReviewNeeded__c = true`` (ids)."""

    orders: tuple[str, ...]
    items: tuple[str, ...]


async def flag_open_orders_on_price(
    client: SalesforceClient,
    product2_id: str,
    new_price: Decimal | float | int,
    *,
    open_statuses: Sequence[str] = ("Draft",),
    pricebook2_id: str | None = None,
) -> FlaggedOrders:
    """Flag open orders, and their lines, whose unit price for a product differs from a new one.

    Lines of ``product2_id`` on orders whose ``Status`` is in ``open_statuses`` (and, when
    given, priced from ``pricebook2_id``) with ``UnitPrice != new_price`` get
    ``PriceReviewNeeded__c = true``, and so do their orders. Already flagged records are not
    written again, so a replayed price change writes nothing.
    """
    where = format_soql(
        "Product2Id = {p} AND UnitPrice != {price} AND Order.Status IN {statuses}",
        p=product2_id,
        price=Decimal(str(new_price)),
        statuses=tuple(open_statuses),
    )
    if pricebook2_id is not None:
        where += format_soql(" AND PricebookEntry.Pricebook2Id = {b}", b=pricebook2_id)
    fields = ("Id", "OrderId", "PriceReviewNeeded__c", "Order.PriceReviewNeeded__c")
    rows = await client.query(select("OrderItem", fields, where=where, order_by=("OrderId", "Id")))
    items = [str(row["Id"]) for row in rows if not row.get("PriceReviewNeeded__c")]
    orders = list(
        dict.fromkeys(
            str(row["OrderId"])
            for row in rows
            if not (row.get("Order") or {}).get("PriceReviewNeeded__c")
        )
    )
    for item_id in items:
        await client.update("OrderItem", item_id, {"PriceReviewNeeded__c": True})
    for order_id in orders:
        await client.update("Order", order_id, {"PriceReviewNeeded__c": True})
    return FlaggedOrders(orders=tuple(orders), items=tuple(items))
