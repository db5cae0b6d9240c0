"""Pure mapping of the catalog flow: product records ↔ canonical values, edits ↔ events.

Values are canonical so both systems compare alike: text (empty → None), money as a 2-decimal
string, bools. `classify` splits a record's changes (against the last state seen) into edits of
fields its system owns, conflicting edits of fields the other system owns, and our own echoes.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import JsonValue

from bizbus.connectors.errors import MappingError
from bizbus.connectors.fields import text
from bizbus.connectors.salesforce.soql import parse_datetime
from bizbus.flows.catalog.ownership import CatalogSettings, CrmObject, FieldRule, Owner
from bizbus.schemas import (
    FieldConflictDetectedV1,
    Money,
    PriceBookEntryUpsertRequestedV1,
    PriceChangedV1,
    ProductEditedV1,
    ProductModelChangedV1,
    ProductModelUpdateRequestedV1,
    ProductUpsertRequestedV1,
)
from bizbus.schemas.payloads.catalog import MODEL_CODE_PATTERN

__all__ = [
    "NO_REVISION",
    "Verdict",
    "canonical",
    "changed_fields",
    "classify",
    "conflict_of",
    "crm_model_code",
    "crm_product_fields",
    "crm_values",
    "erp_values",
    "in_system",
    "map_edit_to_erp_command",
    "map_model_to_crm_command",
    "map_price_to_crm_command",
    "model_changed",
    "price_changed",
    "product_edited",
    "resolution_of",
    "system_value",
]

NO_REVISION = "-"  # the contracts require a revision; ERP models without one travel as "-"
Values = dict[str, JsonValue]  # canonical values by bizbus field name
_CENT = Decimal("0.01")


def canonical(rule: FieldRule, value: Any) -> JsonValue:
    """Return a system's field value in canonical form (Odoo `False` for unset → None)."""
    if rule.kind == "bool":
        return bool(value)
    if value is None or value is False or value == "":
        return None
    if rule.kind == "money":
        try:
            return str(Decimal(str(value)).quantize(_CENT))
        except (InvalidOperation, ValueError):
            raise MappingError(f"catalog: {rule.erp}/{rule.crm} is not an amount") from None
    return str(value)


def system_value(rule: FieldRule, value: JsonValue, system: Owner) -> Any:
    """Return a canonical value as the target system's API takes it."""
    if rule.kind == "money" and value is not None:
        return float(Decimal(str(value)))
    if value is None and system == "erp" and rule.kind != "bool":
        return False  # Odoo clears a field with False
    return value


def erp_values(row: Mapping[str, Any], settings: CatalogSettings) -> Values:
    """Return the synced fields of an ERP product.template row."""
    return {
        name: canonical(rule, row.get(rule.erp))
        for name, rule in settings.ownership.items()
        if rule.erp in row
    }


def crm_values(row: Mapping[str, Any], settings: CatalogSettings, obj: CrmObject) -> Values:
    """Return the synced fields of a CRM Product2 or PricebookEntry row."""
    return {
        name: canonical(rule, row.get(rule.crm))
        for name, rule in settings.fields_of(obj).items()
        if rule.crm in row
    }


def crm_model_code(row: Mapping[str, Any]) -> str | None:
    """Return the model code of a CRM Product2 row (ProductCode, else ErpProductRef__c)."""
    for name in ("ProductCode", "ErpProductRef__c"):
        value = row.get(name)
        if isinstance(value, str) and re.match(MODEL_CODE_PATTERN, value):
            return value
    return None


@dataclass(frozen=True)
class Verdict:
    """What one observed record means.

    Attributes:
        edits: Changed fields its system owns (to carry to the other system).
        conflicts: Changed fields the other system owns (edits by a non-owner).
        echoes: Changed fields that are our own writes coming back.
        first: True when the record was never seen before (its fields are a baseline).
    """

    edits: Values = field(default_factory=dict)
    conflicts: Values = field(default_factory=dict)
    echoes: frozenset[str] = frozenset()
    first: bool = False


def changed_fields(
    previous: Values | None, current: Values, overwritten: set[str] | frozenset[str] = frozenset()
) -> Values:
    """Return the fields of `current` that differ from `previous` (all when never seen).

    `overwritten` fields count as changed even when equal: a write of ours came between.
    """
    if previous is None:
        return dict(current)
    return {
        k: v
        for k, v in current.items()
        if k not in previous or previous[k] != v or k in overwritten
    }


def classify(
    source: Owner,
    previous: Values | None,
    current: Values,
    echoes: set[str],
    settings: CatalogSettings,
    *,
    overwritten: set[str] | frozenset[str] = frozenset(),
) -> Verdict:
    """Split the changes of one record seen in `source` (echoes already identified).

    A record seen for the first time is a baseline: its owned fields are carried (initial
    sync, idempotent on the other side), the others are not conflicts.
    """
    changes = changed_fields(previous, current, overwritten)
    real = {k: v for k, v in changes.items() if k not in echoes}
    known = previous or {}
    return Verdict(
        edits={k: v for k, v in real.items() if settings.owner(k) == source},
        conflicts={k: v for k, v in real.items() if settings.owner(k) != source and k in known},
        echoes=frozenset(echoes & set(changes)),
        first=previous is None,
    )


# -- events --------------------------------------------------------------------------------


def model_changed(
    code: str, record_id: int, values: Values, previous: Values | None, changed_at: datetime
) -> ProductModelChangedV1:
    """Return the canonical event of an ERP product model (created or revised)."""
    before = (previous or {}).get("revision")
    return ProductModelChangedV1(
        model_code=code,
        erp_product_id=record_id,
        name=text(values.get("name")) or code,
        revision=text(values.get("revision")) or NO_REVISION,
        previous_revision=str(before) if before and before != values.get("revision") else None,
        uom=text(values.get("uom")) or "Units",
        active=bool(values.get("active", True)),
        changed_at=changed_at,
    )


def price_changed(
    code: str,
    values: Values,
    previous: Values | None,
    changed_at: datetime,
    settings: CatalogSettings,
) -> PriceChangedV1:
    """Return the list-price event of an ERP product model."""
    before = (previous or {}).get("list_price")
    return PriceChangedV1(
        pricelist_code=settings.pricelist_code,
        model_code=code,
        list_price=Money(amount=Decimal(str(values["list_price"])), currency=settings.currency),
        previous_price=(
            Money(amount=Decimal(str(before)), currency=settings.currency) if before else None
        ),
        valid_from=changed_at.date(),
        changed_at=changed_at,
    )


def product_edited(
    code: str, product_id: str, edits: Values, row: Mapping[str, Any], settings: CatalogSettings
) -> ProductEditedV1:
    """Return the event of an edit of CRM-owned fields (description "" = cleared)."""
    described = "description" in edits
    return ProductEditedV1(
        model_code=code,
        crm_product_id=product_id,
        description=(str(edits["description"] or "")) if described else None,
        changed_fields=tuple(settings.ownership[name].crm for name in sorted(edits)),
        edited_by=row.get("LastModifiedById") or None,
        edited_at=_crm_time(row),
    )


def _crm_time(row: Mapping[str, Any]) -> datetime:
    stamp = row.get("SystemModstamp") or row.get("LastModifiedDate")
    if not isinstance(stamp, str):
        raise MappingError("catalog: CRM row without SystemModstamp")
    return parse_datetime(stamp)


def resolution_of(
    settings: CatalogSettings,
) -> Literal["restore-owner-value", "accept-edit", "ask-people"]:
    """What a conflict leads to: people decide (routed to the OA), else the policy's write."""
    if settings.conflicts_to == "oa":
        return "ask-people"
    return "restore-owner-value" if settings.conflict_policy == "owner-wins" else "accept-edit"


def conflict_of(
    code: str,
    name: str,
    *,
    edited_in: Owner,
    obj: str,
    record_id: str,
    edited: JsonValue,
    owner_value: JsonValue,
    detected_at: datetime,
    settings: CatalogSettings,
) -> FieldConflictDetectedV1:
    """Return the record of a non-owner edit and the configured policy's verdict."""
    policy = settings.conflict_policy
    return FieldConflictDetectedV1(
        model_code=code,
        field=name,
        owner=settings.owner(name),
        edited_in=edited_in,
        edited_object=obj,
        edited_record_id=record_id,
        edited_value=edited,
        owner_value=owner_value,
        policy=policy,
        resolution=resolution_of(settings),
        detected_at=detected_at,
    )


# -- commands ------------------------------------------------------------------------------


def map_model_to_crm_command(event: ProductModelChangedV1) -> ProductUpsertRequestedV1:
    """ERP product model → the CRM product upsert."""
    return ProductUpsertRequestedV1(
        model_code=event.model_code, name=event.name, revision=event.revision, uom=event.uom,
        specifications=event.specifications, active=event.active,
    )  # fmt: skip


def map_price_to_crm_command(
    event: PriceChangedV1, settings: CatalogSettings
) -> PriceBookEntryUpsertRequestedV1:
    """ERP list price → the CRM price-book entry; open orders are flagged when it moved."""
    moved = event.previous_price is not None and event.previous_price != event.list_price
    return PriceBookEntryUpsertRequestedV1(
        price_book_name=settings.price_book,
        model_code=event.model_code,
        unit_price=event.list_price,
        valid_from=event.valid_from,
        flag_open_quotes=moved,
    )


def map_edit_to_erp_command(event: ProductEditedV1) -> ProductModelUpdateRequestedV1 | None:
    """CRM edit of owned fields → the ERP product update (None: nothing the ERP holds)."""
    if event.description is None:
        return None
    return ProductModelUpdateRequestedV1(model_code=event.model_code, description=event.description)


def crm_product_fields(command: ProductUpsertRequestedV1, settings: CatalogSettings) -> Values:
    """Canonical values an ERP → CRM product upsert writes (the write-log's view of it)."""
    values: Values = {
        "name": command.name,
        "revision": None if command.revision == NO_REVISION else command.revision,
        "uom": command.uom,
        "active": command.active,
    }
    return {k: v for k, v in values.items() if k in settings.ownership}


def in_system(values: Values, settings: CatalogSettings, system: Owner) -> dict[str, Any]:
    """Return canonical values under their field names in `system`."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        rule = settings.ownership[name]
        out[rule.erp if system == "erp" else rule.crm] = system_value(rule, value, system)
    return out
