"""Describe resources of the sandbox CRM: versions list, describeGlobal, sObject describe.

Minimal but Salesforce-shaped (`name`, `label`, `keyPrefix`, `fields[]` with type, length,
createable/updateable, externalId, referenceTo, picklistValues); enough for generic clients.
"""

from typing import Any

from bizbus.deploy.sandbox.crm.objects import OBJECTS, FieldDef, ObjectDef

__all__ = ["describe", "describe_global", "versions"]

_OLDEST, _NEWEST = 31, 62


def _release(version: int) -> str:
    # v57.0 was Spring '23; three releases a year (Spring, Summer, Winter of the next year).
    step = version - 57
    season = ("Spring", "Summer", "Winter")[step % 3]
    year = 23 + step // 3 + (1 if season == "Winter" else 0)
    return f"{season} '{year:02d}"


def versions() -> list[dict[str, str]]:
    """Return `GET /services/data/`: the API versions this server lists (any vNN.0 works)."""
    return [
        {"label": _release(v), "url": f"/services/data/v{v}.0", "version": f"{v}.0"}
        for v in range(_OLDEST, _NEWEST + 1)
    ]


def _urls(obj: ObjectDef, version: str) -> dict[str, str]:
    base = f"/services/data/v{version}/sobjects/{obj.name}"
    return {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"}


def _summary(obj: ObjectDef, version: str) -> dict[str, Any]:
    return {
        "name": obj.name,
        "label": obj.label,
        "keyPrefix": obj.key_prefix,
        "custom": False,
        "createable": obj.writable,
        "updateable": obj.writable,
        "deletable": obj.writable,
        "queryable": True,
        "retrieveable": True,
        "urls": _urls(obj, version),
    }


def _field(fdef: FieldDef) -> dict[str, Any]:
    return {
        "name": fdef.name,
        "label": fdef.label or fdef.name,
        "type": fdef.type,
        "length": fdef.length if fdef.type not in ("boolean", "double", "currency") else 0,
        "custom": fdef.name.endswith("__c"),
        "createable": fdef.createable,
        "updateable": fdef.updateable,
        "nillable": not fdef.required and fdef.type != "boolean" and fdef.name != "Id",
        "defaultedOnCreate": fdef.default is not None or not fdef.createable,
        "externalId": fdef.external_id,
        "unique": fdef.unique,
        "idLookup": fdef.external_id or fdef.name == "Id",
        "filterable": fdef.type != "textarea" or fdef.length <= 255,
        "sortable": fdef.type != "textarea" or fdef.length <= 255,
        "referenceTo": [fdef.reference_to] if fdef.reference_to else [],
        "relationshipName": fdef.relationship_name,
        "restrictedPicklist": fdef.restricted,
        "picklistValues": [
            {"value": v, "label": v, "active": True, "defaultValue": v == fdef.default}
            for v in fdef.picklist
        ],
    }


def describe_global(version: str) -> dict[str, Any]:
    """Return `GET /sobjects`."""
    return {
        "encoding": "UTF-8",
        "maxBatchSize": 200,
        "sobjects": [_summary(obj, version) for obj in OBJECTS.values()],
    }


def describe(obj: ObjectDef, version: str, *, full: bool) -> dict[str, Any]:
    """Return `GET /sobjects/{obj}` (full=False) or `GET /sobjects/{obj}/describe`."""
    if not full:
        return {"objectDescribe": _summary(obj, version), "recentItems": []}
    return {**_summary(obj, version), "fields": [_field(f) for f in obj.fields]}
