"""Committed contracts match the models, stay backward compatible and pass the official tools."""

import copy
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from typer.testing import CliRunner

from bizbus.deploy.cli import app as cli
from bizbus.schemas import EVENT_TYPES, TOPICS, SchemaError
from bizbus.schemas.compat import breaking_changes
from bizbus.schemas.export import (
    ASYNCAPI_FILE,
    asyncapi_document,
    check_compatibility,
    export_contracts,
    payload_json_schema,
    render_contracts,
)

ROOT = Path(__file__).parents[2]
CONTRACTS = ROOT / "schemas" / "contracts"
TOOLS = ROOT / "tests" / "contracts"
ORDER = "bizbus.sales.order.placed.v1"


def _validate_asyncapi(path: Path) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    assert node, "node (v20) is required to validate the AsyncAPI document"
    assert (TOOLS / "node_modules" / "@asyncapi" / "parser").is_dir(), (
        "AsyncAPI parser missing: run `make contract-tools` (npm ci --prefix tests/contracts)"
    )
    return subprocess.run(
        [node, str(TOOLS / "validate_asyncapi.mjs"), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_committed_contracts_match_the_models() -> None:
    expected = render_contracts()
    committed = {
        str(path.relative_to(CONTRACTS)): path.read_bytes() for path in CONTRACTS.rglob("*.json")
    }
    drifted = sorted(set(expected) ^ set(committed)) + sorted(
        name for name in set(expected) & set(committed) if expected[name] != committed[name]
    )
    assert not drifted, f"run `bizbus schemas export schemas/contracts`; drifted: {drifted}"


def test_models_are_backward_compatible_with_the_published_schemas() -> None:
    assert check_compatibility(CONTRACTS) == []


def test_every_json_schema_is_valid_draft_2020_12() -> None:
    for event_type in EVENT_TYPES:
        schema = payload_json_schema(event_type)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        jsonschema.Draft202012Validator.check_schema(schema)


def test_json_schema_rejects_what_the_model_rejects() -> None:
    schema = payload_json_schema(ORDER)
    data = _order_data()
    validator = jsonschema.Draft202012Validator(schema)
    assert validator.is_valid(data)
    assert not validator.is_valid(data | {"surprise": 1})
    assert not validator.is_valid({k: v for k, v in data.items() if k != "lines"})


def _order_data() -> dict[str, Any]:
    fixture = json.loads((ROOT / "tests/fixtures/events" / f"{ORDER}.json").read_text("utf-8"))
    data: dict[str, Any] = fixture["data"]
    return data


@pytest.mark.parametrize(
    ("value", "valid"),
    [("12.50", True), ("2", True), ("1E+3", True), ("lots", False), ("", False),
     ("1.", False), ("-1", False), (12.5, False)],
)  # fmt: skip
def test_an_exported_quantity_is_unsigned_decimal_text(value: object, valid: bool) -> None:
    data = _order_data()
    data["lines"][0]["quantity"] = value
    assert jsonschema.Draft202012Validator(payload_json_schema(ORDER)).is_valid(data) is valid


@pytest.mark.parametrize(
    ("value", "valid"), [("-12.50", True), ("12.50", True), ("lots", False), (12.5, False)]
)
def test_an_exported_amount_is_decimal_text_and_may_be_negative(value: object, valid: bool) -> None:
    data = _order_data()
    data["total_amount"]["amount"] = value
    assert jsonschema.Draft202012Validator(payload_json_schema(ORDER)).is_valid(data) is valid


def test_the_asyncapi_document_passes_the_official_parser() -> None:
    result = _validate_asyncapi(CONTRACTS / ASYNCAPI_FILE)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["valid"] is True
    assert summary["asyncapi"] == "3.0.0"
    assert summary["channels"] == len(TOPICS)
    assert summary["messages"] == len(EVENT_TYPES)


def test_the_parser_check_really_fails_on_a_broken_document(tmp_path: Path) -> None:
    document = asyncapi_document()
    channel = next(iter(document["channels"].values()))
    channel["messages"] = {"Ghost": {"$ref": "#/components/messages/Ghost"}}
    broken = tmp_path / "asyncapi.json"
    broken.write_text(json.dumps(document), encoding="utf-8")
    result = _validate_asyncapi(broken)
    assert result.returncode == 1
    assert "INVALID" in result.stderr


def test_asyncapi_describes_every_topic_key_and_message() -> None:
    document = asyncapi_document()
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert addresses == set(TOPICS)
    messages = document["components"]["messages"]
    assert {message["name"] for message in messages.values()} == set(EVENT_TYPES)
    order = messages["OrderPlacedV1"]
    assert order["bindings"]["kafka"]["key"]["description"] == "CRM order id"
    assert order["headers"]["properties"]["ce_type"]["const"] == ORDER
    stock = document["channels"]["biz_inventory_stock"]["bindings"]["kafka"]
    assert stock["topicConfiguration"]["cleanup.policy"] == ["compact"]


def _published_order_schema() -> dict[str, Any]:
    path = CONTRACTS / "jsonschema" / f"{ORDER}.json"
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return schema


def test_compat_detects_a_removed_or_renamed_field() -> None:
    old = _published_order_schema()
    new = copy.deepcopy(old)
    new["properties"]["po_number"] = new["properties"].pop("customer_po")
    assert breaking_changes(old, new) == ["data.customer_po: removed or renamed"]


def test_compat_detects_a_retyped_nested_field() -> None:
    old = _published_order_schema()
    new = copy.deepcopy(old)
    new["$defs"]["OrderLine"]["properties"]["line_no"] = {"type": "string"}
    assert breaking_changes(old, new) == [
        "data.lines[].line_no: retyped or constrained "
        "({'minimum': 1, 'type': 'integer'} -> {'type': 'string'})"
    ]


def test_compat_detects_a_new_required_field_and_a_dropped_enum_value() -> None:
    old = payload_json_schema("bizbus.sales.order.status-changed.v1")
    new = copy.deepcopy(old)
    new["required"].append("reason_event_type")
    new["$defs"]["OrderStatus"]["enum"].remove("shipped")
    problems = breaking_changes(old, new)
    assert "data.reason_event_type: newly required" in problems
    assert any("no longer accepts ['shipped']" in problem for problem in problems)


def test_compat_accepts_an_added_optional_field_and_a_widened_type() -> None:
    old = _published_order_schema()
    new = copy.deepcopy(old)
    new["properties"]["incoterms"] = {"anyOf": [{"type": "string"}, {"type": "null"}]}
    new["properties"]["customer_po"]["description"] = "reworded"
    new["properties"]["order_number"] = {"anyOf": [{"type": "string", "minLength": 1},
                                                   {"type": "null"}]}  # fmt: skip
    assert breaking_changes(old, new) == []


def _decimal(number: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [{"type": "number", **number}, {"type": "string"}], "title": "Quantity"}


def test_compat_accepts_decimals_becoming_text_as_decided_for_v1() -> None:
    old = _published_order_schema()
    line = old["$defs"]["OrderLine"]["properties"]
    line["quantity"] = _decimal({"exclusiveMinimum": 0.0, "minimum": 0.0})
    old["$defs"]["Money"]["properties"]["amount"] = _decimal({})
    assert breaking_changes(old, payload_json_schema(ORDER)) == []


def test_compat_still_refuses_other_narrowings_of_a_decimal() -> None:
    old = _published_order_schema()
    old["$defs"]["Money"]["properties"]["amount"] = _decimal({})
    new = copy.deepcopy(old)
    unsigned = payload_json_schema(ORDER)["$defs"]["OrderLine"]["properties"]["quantity"]
    new["$defs"]["Money"]["properties"]["amount"] = unsigned  # negatives were sent: breaking
    assert sorted(breaking_changes(old, new)) == [
        "data.lines[].unit_price.amount: retyped (a type it accepted is no longer accepted)",
        "data.total_amount.amount: retyped (a type it accepted is no longer accepted)",
    ]
    new["$defs"]["Money"]["properties"]["amount"] = {"type": "string", "pattern": "^[0-9]+$"}
    assert breaking_changes(old, new)  # not the decimal pattern
    new["$defs"]["Money"]["properties"]["amount"] = {"type": "number"}
    assert breaking_changes(old, new)  # strings were sent


def test_export_refuses_to_overwrite_a_published_schema_with_a_breaking_change(
    tmp_path: Path,
) -> None:
    published = _published_order_schema()
    published["properties"]["legacy_field"] = {"type": "string"}
    (tmp_path / "jsonschema").mkdir()
    target = tmp_path / "jsonschema" / f"{ORDER}.json"
    target.write_text(json.dumps(published), encoding="utf-8")
    with pytest.raises(SchemaError, match="legacy_field: removed or renamed"):
        export_contracts(tmp_path)
    assert json.loads(target.read_text("utf-8")) == published  # nothing was written
    export_contracts(tmp_path, allow_breaking=True)
    assert "legacy_field" not in json.loads(target.read_text("utf-8"))["properties"]


def test_export_refuses_to_drop_a_published_topic(tmp_path: Path) -> None:
    published = asyncapi_document()
    published["channels"]["src_crm_campaign"] = {"address": "src.crm.campaign"}
    (tmp_path / ASYNCAPI_FILE).write_text(json.dumps(published), encoding="utf-8")
    with pytest.raises(SchemaError, match=r"src\.crm\.campaign: published topic removed"):
        export_contracts(tmp_path)


def test_cli_export_writes_every_contract(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["schemas", "export", str(tmp_path)])
    assert result.exit_code == 0, result.output
    written = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.json")}
    assert written == set(render_contracts())
    rerun = CliRunner().invoke(cli, ["schemas", "export", str(tmp_path)])
    assert rerun.exit_code == 0  # idempotent: unchanged contracts are compatible with themselves


def test_cli_export_exits_1_on_a_breaking_change(tmp_path: Path) -> None:
    (tmp_path / "jsonschema").mkdir()
    (tmp_path / "jsonschema" / "bizbus.sales.order.cancelled.v1.json").write_text("{}", "utf-8")
    result = CliRunner().invoke(cli, ["schemas", "export", str(tmp_path)])
    assert result.exit_code == 1
