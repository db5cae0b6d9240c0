"""Instance forms of the sandbox OA: check a submitted form against its definition, read trips.

A form is a JSON string: a list of widgets `{"id", "type", "value"}`. The trip group widget's
value is `{"schedule": [{"start", "end", "departure", "destination", "transportation",
"oneRound"?, "remark"?}], "reason"?, "peer"?}` with RFC 3339 times.
"""

from datetime import datetime
from typing import Any

import orjson

from bizbus.deploy.sandbox.oa.errors import PARAM_INVALID, FeishuError

__all__ = ["Schedule", "parse_form", "trip_schedules"]

Schedule = dict[str, Any]
_SCHEDULE_TEXT = ("departure", "destination", "transportation")


def _invalid(detail: str) -> FeishuError:
    return FeishuError(PARAM_INVALID, f"param is invalid: {detail}")


def _time(value: Any, where: str) -> datetime:
    if not isinstance(value, str):
        raise _invalid(f"{where} must be an RFC 3339 time string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _invalid(f"{where} is not an RFC 3339 time: {value!r}") from None
    if parsed.tzinfo is None:
        raise _invalid(f"{where} needs a UTC offset, e.g. 2024-05-20T09:00:00+08:00")
    return parsed


def _check_trip(value: Any) -> None:
    if not isinstance(value, dict) or not isinstance(value.get("schedule"), list):
        raise _invalid("tripGroup value needs a schedule list")
    if not value["schedule"]:
        raise _invalid("tripGroup schedule is empty")
    for n, item in enumerate(value["schedule"]):
        where = f"tripGroup schedule[{n}]"
        if not isinstance(item, dict):
            raise _invalid(f"{where} must be an object")
        for name in _SCHEDULE_TEXT:
            if not isinstance(item.get(name), str) or not item[name].strip():
                raise _invalid(f"{where}.{name} is required")
        if _time(item.get("end"), f"{where}.end") < _time(item.get("start"), f"{where}.start"):
            raise _invalid(f"{where} ends before it starts")


def parse_form(form: Any, definition: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Check a submitted form string and return its widgets enriched with name and custom_id.

    Raises:
        FeishuError: 1390001 when the form is not valid for the definition.
    """
    if not isinstance(form, str):
        raise _invalid("form must be a JSON string")
    try:
        widgets = orjson.loads(form)
    except orjson.JSONDecodeError:
        raise _invalid("form is not valid JSON") from None
    if not isinstance(widgets, list):
        raise _invalid("form must be a JSON array of widgets")
    known = {widget["id"]: widget for widget in definition}
    seen: dict[str, dict[str, Any]] = {}
    for widget in widgets:
        if not isinstance(widget, dict) or not isinstance(widget.get("id"), str):
            raise _invalid("every widget needs an id")
        spec = known.get(widget["id"])
        if spec is None:
            raise _invalid(f"widget {widget['id']!r} is not in the approval form")
        if widget.get("type") != spec["type"]:
            raise _invalid(f"widget {widget['id']!r} has type {spec['type']!r}")
        if spec["type"] == "tripGroup":
            _check_trip(widget.get("value"))
        elif not isinstance(widget.get("value"), str):
            raise _invalid(f"widget {widget['id']!r} needs a string value")
        seen[widget["id"]] = {
            "id": spec["id"], "custom_id": spec.get("custom_id", ""), "name": spec["name"],
            "type": spec["type"], "value": widget["value"],
        }  # fmt: skip
    for spec in definition:
        if spec.get("required") and not seen.get(spec["id"], {}).get("value"):
            raise _invalid(f"required widget {spec['id']!r} ({spec['name']}) is missing")
    return [seen[spec["id"]] for spec in definition if spec["id"] in seen]


def _seconds(start: datetime, end: datetime) -> str:
    return str(int((end - start).total_seconds()))


def trip_schedules(widgets: list[dict[str, Any]]) -> tuple[list[Schedule], str] | None:
    """Return the trip schedules and reason of a parsed form, or None without a trip group.

    Times come back as the form gave them (RFC 3339); intervals are seconds as strings.
    """
    trip = next((w for w in widgets if w["type"] == "tripGroup"), None)
    if trip is None:
        return None
    purpose = next((w["value"] for w in widgets if w["custom_id"] == "purpose"), "")
    schedules = []
    for item in trip["value"]["schedule"]:
        start, end = _time(item["start"], "start"), _time(item["end"], "end")
        schedules.append(
            {
                "trip_start_time": item["start"], "trip_end_time": item["end"],
                "trip_interval": _seconds(start, end), "departure": item["departure"],
                "destination": item["destination"], "transportation": item["transportation"],
                "trip_type": item.get("oneRound", "单程"), "remark": item.get("remark", ""),
            }
        )  # fmt: skip
    return schedules, str(trip["value"].get("reason") or purpose)
