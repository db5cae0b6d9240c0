"""Field value conversion for the sandbox CRM: JSON request values <-> SQLite <-> JSON responses.

Datetimes are stored and returned as Salesforce does, UTC with milliseconds:
`2026-11-27T05:00:00.000+0000` (fixed width, so text order is time order). Dates `YYYY-MM-DD`.
"""

from datetime import UTC, date, datetime
from typing import Any

from bizbus.deploy.sandbox.crm.errors import SalesforceError
from bizbus.deploy.sandbox.crm.ids import InvalidId, normalize_id
from bizbus.deploy.sandbox.crm.objects import ID_TYPES, NUMBER_TYPES, TEXT_TYPES, FieldDef

__all__ = ["format_datetime", "from_db", "parse_datetime", "to_db"]


def format_datetime(moment: datetime) -> str:
    """Return a datetime in Salesforce's UTC millisecond format."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


def parse_datetime(text: str) -> datetime:
    """Parse an ISO 8601 datetime as Salesforce accepts it (Z, +hh:mm or +hhmm; naive is UTC)."""
    cleaned = text.strip().replace("Z", "+00:00")
    if len(cleaned) > 5 and cleaned[-5] in "+-" and cleaned[-4:].isdigit():
        cleaned = cleaned[:-2] + ":" + cleaned[-2:]
    moment = datetime.fromisoformat(cleaned)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _bad_json(fdef: FieldDef, value: Any) -> SalesforceError:
    kind = type(value).__name__
    return SalesforceError(
        400,
        "JSON_PARSER_ERROR",
        f"Cannot deserialize instance of {fdef.type} from {kind} value {value!r} "
        f"for field {fdef.name}",
    )


def to_db(fdef: FieldDef, value: Any) -> Any:
    """Convert a request value for `fdef` into its stored form.

    Raises:
        SalesforceError: 400 with JSON_PARSER_ERROR, MALFORMED_ID, STRING_TOO_LONG or
            INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST, as Salesforce answers.
    """
    if value is None or (value == "" and fdef.type not in TEXT_TYPES):
        return None
    if fdef.type == "boolean":
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return int(value.lower() == "true")
        raise _bad_json(fdef, value)
    if fdef.type in NUMBER_TYPES:
        if isinstance(value, bool):
            raise _bad_json(fdef, value)
        try:
            return int(value) if fdef.type == "int" else float(value)
        except (TypeError, ValueError):
            raise _bad_json(fdef, value) from None
    if not isinstance(value, str):
        raise _bad_json(fdef, value)
    if fdef.type == "date":
        try:
            return date.fromisoformat(value[:10]).isoformat()
        except ValueError:
            raise _bad_json(fdef, value) from None
    if fdef.type == "datetime":
        try:
            return format_datetime(parse_datetime(value))
        except ValueError:
            raise _bad_json(fdef, value) from None
    if fdef.type in ID_TYPES:
        try:
            return normalize_id(value)
        except InvalidId:
            raise SalesforceError(
                400,
                "MALFORMED_ID",
                f"{fdef.name}: id value of incorrect type: {value}",
                [fdef.name],
            ) from None
    if len(value) > fdef.length:
        raise SalesforceError(
            400,
            "STRING_TOO_LONG",
            f"{fdef.name}: data value too large: {value[:40]} (max length={fdef.length})",
            [fdef.name],
        )
    if fdef.restricted and value not in fdef.picklist:
        raise SalesforceError(
            400,
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            f"{fdef.name}: bad value for restricted picklist field: {value}",
            [fdef.name],
        )
    return value


def from_db(fdef: FieldDef, value: Any) -> Any:
    """Convert a stored value for `fdef` into its JSON response form."""
    if value is None:
        return None
    if fdef.type == "boolean":
        return bool(value)
    if fdef.type in NUMBER_TYPES and fdef.type != "int":
        return float(value)
    return value
