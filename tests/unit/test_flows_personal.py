"""The worker's personal-data keys: checked at start-up, rotated by key id, printed by keygen."""

import json
import shlex

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from bizbus.connectors.errors import ConfigError
from bizbus.deploy.cli import app as cli
from bizbus.flows.personal import PersonalDataSettings, load_key_ring, new_key, throwaway_key
from bizbus.schemas import OrderPlacedV1, decode_record, encode_record, make_event
from tests.unit.test_schemas_personal import fixture


def settings(keys: dict[str, str], active: str | None = None) -> PersonalDataSettings:
    secret = {key_id: SecretStr(key) for key_id, key in keys.items()}
    return PersonalDataSettings(pii_keys=secret, pii_active_key=active)


def test_a_worker_without_a_key_refuses_to_start_and_says_how_to_get_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("BIZBUS_PII_KEYS", raising=False)
    monkeypatch.delenv("BIZBUS_PII_ACTIVE_KEY", raising=False)
    with pytest.raises(ConfigError, match="bizbus pii keygen"):
        load_key_ring()


@pytest.mark.parametrize(
    ("keys", "active", "says"),
    [
        ({"k1": "not base64!"}, None, "is not base64"),
        ({"k1": "c2hvcnQ="}, None, "is not 32 bytes"),
        ({"k1": new_key()}, "k2", "is not a key id"),
        ({"k1": new_key(), "k2": new_key()}, None, "must name one of several"),
        ({"bad id": new_key()}, None, "must match"),
    ],
)
def test_bad_keys_are_named_without_their_values(
    monkeypatch: pytest.MonkeyPatch, keys: dict[str, str], active: str | None, says: str
) -> None:
    monkeypatch.setenv("BIZBUS_PII_KEYS", json.dumps(keys))
    if active:
        monkeypatch.setenv("BIZBUS_PII_ACTIVE_KEY", active)
    else:
        monkeypatch.delenv("BIZBUS_PII_ACTIVE_KEY", raising=False)
    with pytest.raises(ConfigError, match=says) as error:
        load_key_ring()
    assert all(key not in str(error.value) for key in keys.values())


def test_rotation_keeps_reading_what_the_retired_key_sealed() -> None:
    old, new = new_key(), new_key()
    event = fixture("bizbus.sales.order.placed.v1")
    _, value, headers = encode_record(event, keys=settings({"2025-01": old}).key_ring())
    rotated = settings({"2025-01": old, "2025-07": new}, "2025-07").key_ring()
    assert rotated.active == "2025-07"
    assert decode_record(value, headers, keys=rotated) == event


def test_keygen_prints_settings_a_worker_accepts(monkeypatch: pytest.MonkeyPatch) -> None:
    printed = CliRunner().invoke(cli, ["pii", "keygen", "--id", "2025-07"])
    assert printed.exit_code == 0, printed.output
    for line in printed.output.splitlines():
        name, _, value = line.partition("=")
        monkeypatch.setenv(name, shlex.split(value)[0])
    assert load_key_ring().active == "2025-07"


def test_a_throwaway_key_is_one_ring_and_its_settings() -> None:
    ring, env = throwaway_key("t")
    event = make_event(fixture("bizbus.sales.order.placed.v1").data, source="s",
                       correlationid="c", origin="crm")  # fmt: skip
    assert isinstance(event.data, OrderPlacedV1)
    _, value, headers = encode_record(event, keys=ring)
    loaded = settings(json.loads(env["BIZBUS_PII_KEYS"]), env["BIZBUS_PII_ACTIVE_KEY"])
    assert decode_record(value, headers, keys=loaded.key_ring()) == event
