"""Python's stdlib xmlrpc.client, used exactly as Odoo's External API documentation shows.

Proxies are closed with `with` (the docs leave them open) because warnings are errors here.
"""

import uuid
import xmlrpc.client
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bizbus.deploy.sandbox.registry import SYSTEMS

CREDS = SYSTEMS["erp"].credentials
DB, USERNAME, PASSWORD = CREDS["db"], CREDS["login"], CREDS["password"]


@pytest.fixture
def common(erp_url: str) -> Iterator[Any]:
    with xmlrpc.client.ServerProxy(f"{erp_url}/xmlrpc/2/common") as proxy:
        yield proxy


@pytest.fixture
def models(erp_url: str) -> Iterator[Any]:
    with xmlrpc.client.ServerProxy(f"{erp_url}/xmlrpc/2/object") as proxy:
        yield proxy


def test_external_api_walkthrough_from_the_odoo_docs(common: Any, models: Any) -> None:
    version = common.version()
    assert version["server_version"] == "17.0" and version["protocol_version"] == 1
    uid = common.authenticate(DB, USERNAME, PASSWORD, {})
    assert uid == 2

    assert (
        models.execute_kw(
            DB,
            uid,
            PASSWORD,
            "res.partner",
            "check_access_rights",
            ["read"],
            {"raise_exception": False},
        )
        is True
    )
    companies = models.execute_kw(
        DB, uid, PASSWORD, "res.partner", "search", [[["is_company", "=", True]]]
    )
    assert len(companies) >= 7
    page = models.execute_kw(
        DB,
        uid,
        PASSWORD,
        "res.partner",
        "search",
        [[["is_company", "=", True]]],
        {"offset": 2, "limit": 3},
    )
    assert page == companies[2:5]
    count = models.execute_kw(
        DB, uid, PASSWORD, "res.partner", "search_count", [[["is_company", "=", True]]]
    )
    assert count == len(companies)

    ids = models.execute_kw(
        DB, uid, PASSWORD, "res.partner", "search", [[["is_company", "=", True]]], {"limit": 1}
    )
    [record] = models.execute_kw(DB, uid, PASSWORD, "res.partner", "read", [ids])
    assert record["id"] == ids[0] and "write_date" in record and "display_name" in record
    rows = models.execute_kw(
        DB,
        uid,
        PASSWORD,
        "res.partner",
        "read",
        [ids],
        {"fields": ["name", "country_id", "comment"]},
    )
    assert set(rows[0]) == {"id", "name", "country_id", "comment"}
    described = models.execute_kw(
        DB,
        uid,
        PASSWORD,
        "res.partner",
        "fields_get",
        [],
        {"attributes": ["string", "help", "type"]},
    )
    assert described["ref"] == {"string": "Reference", "help": "", "type": "char"}
    listed = models.execute_kw(
        DB,
        uid,
        PASSWORD,
        "res.partner",
        "search_read",
        [[["is_company", "=", True], ["ref", "=", "C10001"]]],
        {"fields": ["name", "country_id", "comment"], "limit": 5},
    )
    assert listed[0]["name"] == "上海电气自动化设备有限公司"
    assert listed[0]["country_id"][1] == "中国 (China)"

    new_id = models.execute_kw(
        DB, uid, PASSWORD, "res.partner", "create", [{"name": "New Partner"}]
    )
    models.execute_kw(
        DB, uid, PASSWORD, "res.partner", "write", [[new_id], {"name": "Newer partner"}]
    )
    got = models.execute_kw(DB, uid, PASSWORD, "res.partner", "read", [[new_id], ["display_name"]])
    assert got == [{"id": new_id, "display_name": "Newer partner"}]
    models.execute_kw(DB, uid, PASSWORD, "res.partner", "unlink", [[new_id]])
    assert (
        models.execute_kw(DB, uid, PASSWORD, "res.partner", "search", [[["id", "=", new_id]]]) == []
    )


def test_api_key_works_as_password_and_integration_user_authenticates(
    common: Any,
) -> None:
    assert common.authenticate(DB, USERNAME, CREDS["api_key"], {}) == 2
    bizbus = common.authenticate(DB, CREDS["integration_login"], CREDS["integration_password"], {})
    assert bizbus == 3
    assert common.authenticate(DB, USERNAME, "wrong", {}) is False


def test_faults_are_shaped_like_odoo(models: Any) -> None:
    with pytest.raises(xmlrpc.client.Fault) as denied:
        models.execute_kw(DB, 2, "wrong", "res.partner", "search", [[]])
    assert (denied.value.faultCode, denied.value.faultString) == (3, "Access Denied")
    with pytest.raises(xmlrpc.client.Fault) as invalid:
        models.execute_kw(DB, 2, PASSWORD, "res.partner", "search", [[["nope", "=", 1]]])
    assert "Invalid field 'nope' on model 'res.partner'" in invalid.value.faultString
    with pytest.raises(xmlrpc.client.Fault) as missing:
        models.execute_kw(DB, 2, PASSWORD, "res.partner", "write", [[999999], {"name": "x"}])
    assert missing.value.faultCode == 2
    assert "Record does not exist or has been deleted" in missing.value.faultString
    with pytest.raises(xmlrpc.client.Fault) as private:
        models.execute_kw(DB, 2, PASSWORD, "res.partner", "_read", [[1]])
    assert private.value.faultCode == 4


def test_write_date_polling_with_id_tie_break_sees_each_change(
    models: Any,
) -> None:
    ref = f"CRM-ACC-{uuid.uuid4().hex[:8]}"

    def poll(watermark: str) -> Any:
        return models.execute_kw(
            DB,
            3,
            "bizbus",
            "res.partner",
            "search_read",
            [[["write_date", ">=", watermark]]],
            {
                "fields": ["ref", "write_date", "write_uid"],
                "order": "write_date asc, id asc",
                "limit": 500,
            },
        )

    [seed] = models.execute_kw(
        DB,
        3,
        "bizbus",
        "res.partner",
        "search_read",
        [[["ref", "=", "C10001"]]],
        {"fields": ["write_date"]},
    )
    assert len(seed["write_date"]) == 19 and seed["write_date"][10] == " "
    found = models.execute_kw(DB, 3, "bizbus", "res.partner", "search", [[["ref", "=", ref]]])
    assert found == []  # search-then-create on the external ref
    pid = models.execute_kw(
        DB, 3, "bizbus", "res.partner", "create", [{"name": "深圳客户", "ref": ref}]
    )
    created = [r for r in poll(seed["write_date"]) if r["id"] == pid]
    assert created and created[0]["write_uid"][0] == 3
    models.execute_kw(DB, 2, PASSWORD, "res.partner", "write", [[pid], {"phone": "+86 755 1"}])
    changed = [r for r in poll(str(created[0]["write_date"])) if r["id"] == pid]
    assert changed[0]["write_uid"][0] == 2
    rows = poll(seed["write_date"])
    keys = [(r["write_date"], r["id"]) for r in rows]
    assert keys == sorted(keys)


def test_effects_log_records_writes_with_external_ref_and_login(erp_url: str, models: Any) -> None:
    since = httpx.get(f"{erp_url}/_sandbox/effects").json()["effects"]
    last = since[-1]["seq"] if since else 0
    ref = f"CRM-ACC-{uuid.uuid4().hex[:8]}"
    pid = models.execute_kw(
        DB, 3, "bizbus", "res.partner", "create", [{"name": "客户", "ref": ref}]
    )
    effects = httpx.get(
        f"{erp_url}/_sandbox/effects", params={"since": last, "object": "res.partner"}
    ).json()["effects"]
    mine = [e for e in effects if e["record_id"] == str(pid)]
    assert mine[0]["action"] == "create" and mine[0]["key"] == ref and mine[0]["client"] == "bizbus"
