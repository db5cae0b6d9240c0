"""Golden fixtures (one realistic event per type) must keep decoding, byte for byte."""

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from bizbus.schemas import EVENT_TYPES, decode_record, encode_record, event_to_dict, parse_event

FIXTURES = Path(__file__).parents[1] / "fixtures" / "events"
CONTRACTS = Path(__file__).parents[2] / "schemas" / "contracts" / "jsonschema"
FIXTURE_FILES = sorted(FIXTURES.glob("*.json"))


def test_every_event_type_has_a_golden_fixture_and_no_fixture_is_orphaned() -> None:
    assert {path.name.removesuffix(".json") for path in FIXTURE_FILES} == set(EVENT_TYPES)


def _kept(old: Any, new: Any) -> bool:
    """True when every value of `old` survives in `new` (new optional fields may be added)."""
    if isinstance(old, dict):
        return isinstance(new, dict) and all(k in new and _kept(v, new[k]) for k, v in old.items())
    if isinstance(old, list):
        return isinstance(new, list) and len(old) == len(new) and all(map(_kept, old, new))
    return bool(old == new)


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.stem)
def test_fixture_decodes_to_its_type_and_keeps_every_value(path: Path) -> None:
    raw = json.loads(path.read_text(encoding="utf-8"))
    event = parse_event(raw)
    assert event.type == path.stem
    assert type(event.data) is EVENT_TYPES[path.stem]
    assert _kept(raw, event_to_dict(event))
    assert decode_record(*encode_record(event)[1:]) == event


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.stem)
def test_fixture_data_validates_against_the_committed_json_schema(path: Path) -> None:
    raw = json.loads(path.read_text(encoding="utf-8"))
    schema = json.loads((CONTRACTS / path.name).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).validate(raw["data"])
    assert raw["dataschema"] == schema["$id"]


def test_fixtures_tell_one_story_with_shared_correlation_ids() -> None:
    events = [parse_event(path.read_bytes()) for path in FIXTURE_FILES]
    deal = [e for e in events if e.correlationid == "deal-2025-0042"]
    assert {e.type for e in deal} >= {
        "bizbus.sales.order.placed.v1",
        "bizbus.sales.sales-order.upserted.v1",
        "bizbus.production.manufacturing-order.planned.v1",
        "bizbus.logistics.shipment.dispatched.v1",
        "bizbus.finance.invoice.posted.v1",
    }
    assert all(e.time.utcoffset() is not None for e in events)
