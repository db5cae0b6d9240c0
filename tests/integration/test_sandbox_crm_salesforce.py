"""simple-salesforce, unchanged, against the sandbox CRM over real loopback sockets.

simple-salesforce always builds `https://` URLs; the sandbox serves plain HTTP on loopback, so
the client gets a `requests.Session` (its public `session=` argument) whose adapter sends those
calls to `http://`. Everything above the transport is the public client's own code.
"""

import uuid
from collections.abc import Iterator
from typing import Any, cast

import httpx
import pytest
import requests
from requests.adapters import HTTPAdapter
from simple_salesforce.api import Salesforce, SFType
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceResourceNotFound,
)

from bizbus.deploy.sandbox.registry import SYSTEMS

CLIENT = "bizbus-test"


class _LoopbackHttp(HTTPAdapter):
    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        assert request.url is not None
        request.url = request.url.replace("https://", "http://", 1)
        return super().send(request, **kwargs)


def _token(crm_url: str, **form: str) -> dict[str, Any]:
    creds = SYSTEMS["crm"].credentials
    data = {"grant_type": "client_credentials", **creds, **form}
    response = httpx.post(f"{crm_url}/services/oauth2/token", data=data, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _client(crm_url: str, token: str, version: str = "60.0") -> Salesforce:
    session = requests.Session()
    session.mount("https://127.0.0.1:", _LoopbackHttp())
    return Salesforce(instance_url=crm_url, session_id=token, version=version, session=session)


@pytest.fixture
def sf(crm_url: str) -> Iterator[Salesforce]:
    client = _client(crm_url, _token(crm_url)["access_token"])
    yield client
    client.session.close()


def _obj(client: Salesforce, name: str) -> SFType:
    return cast(SFType, getattr(client, name))


def _content(error: Exception) -> Any:
    return error.content  # type: ignore[attr-defined]


def _ref() -> str:
    return f"T-{uuid.uuid4().hex[:10]}"


def _effects(crm_url: str, since: int = 0) -> list[dict[str, Any]]:
    response = httpx.get(f"{crm_url}/_sandbox/effects", params={"since": since}, timeout=5)
    return response.json()["effects"]  # type: ignore[no-any-return]


def _last_seq(crm_url: str) -> int:
    effects = _effects(crm_url)
    return int(effects[-1]["seq"]) if effects else 0


def test_token_endpoint_answers_like_salesforce(crm_url: str) -> None:
    body = _token(crm_url)
    assert body["token_type"] == "Bearer"  # noqa: S105 - not a password
    assert body["instance_url"] == crm_url
    assert body["id"].startswith(f"{crm_url}/id/00D")
    bad = httpx.post(
        f"{crm_url}/services/oauth2/token",
        timeout=5,
        data={"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"},
    )
    assert bad.status_code == 400
    assert bad.json()["error"] == "invalid_client"


def test_query_seed_orders_with_parent_fields(sf: Salesforce) -> None:
    result = sf.query(
        "SELECT Id, OrderNumber, Status, TotalAmount, CurrencyIsoCode, Account.Name "
        "FROM Order WHERE ErpOrderRef__c = 'SO-2026-0001'"
    )
    assert result["totalSize"] == 1 and result["done"] is True
    order = result["records"][0]
    assert order["attributes"]["type"] == "Order"
    assert len(order["Id"]) == 18 and order["Id"].startswith("801")
    assert order["OrderNumber"] == "00000100"
    assert order["CurrencyIsoCode"] == "CNY"
    assert order["TotalAmount"] > 0
    assert order["Account"]["Name"] == "上海电气自动化设备有限公司"


def test_query_pages_with_next_records_url_and_query_all(sf: Salesforce) -> None:
    headers = {"Sforce-Query-Options": "batchSize=10"}
    first = sf.query("SELECT Id, Name FROM Lead ORDER BY Id", headers=headers)
    assert first["done"] is False
    assert first["nextRecordsUrl"].startswith("/services/data/v60.0/query/01g")
    assert len(first["records"]) == 10
    second = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert len(second["records"]) == 10
    everything = sf.query_all("SELECT Id, Name FROM Lead ORDER BY Id", headers=headers)
    ids = [record["Id"] for record in everything["records"]]
    assert len(ids) == first["totalSize"] >= 25
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert ids[:20] == [r["Id"] for r in first["records"] + second["records"]]


def test_create_get_update_delete(sf: Salesforce, crm_url: str) -> None:
    created = _obj(sf, "Account").create(
        {"Name": "无锡测试机械有限公司", "BillingCity": "无锡", "ErpCustomerRef__c": _ref()},
        headers={"Sforce-Call-Options": f"client={CLIENT}"},
    )
    assert created["success"] is True
    account_id = created["id"]
    record = _obj(sf, "Account").get(account_id)
    assert record["Name"] == "无锡测试机械有限公司"
    assert record["bizbus_LastChangeClient__c"] == CLIENT
    assert record["LastModifiedById"].startswith("005")
    assert record["SystemModstamp"].endswith("+0000") and len(record["SystemModstamp"]) == 28
    assert _obj(sf, "Account").update(account_id, {"Phone": "0510-8888 0000"}) == 204
    record = _obj(sf, "Account").get(account_id[:15])
    assert record["Phone"] == "0510-8888 0000"
    assert record["bizbus_LastChangeClient__c"] is None
    assert _obj(sf, "Account").delete(account_id) == 204
    with pytest.raises(SalesforceResourceNotFound) as caught:
        _obj(sf, "Account").get(account_id)
    assert _content(caught.value)[0]["errorCode"] == "ENTITY_IS_DELETED"
    gone = sf.query_all(
        f"SELECT Id, IsDeleted FROM Account WHERE Id = '{account_id}'",  # noqa: S608 - SOQL text, not SQL
        include_deleted=True,
    )
    assert gone["records"][0]["IsDeleted"] is True


def test_upsert_by_external_id_creates_then_updates(sf: Salesforce, crm_url: str) -> None:
    ref = _ref()
    account = sf.query("SELECT Id FROM Account WHERE ErpCustomerRef__c = 'C10002'")
    body = {
        "AccountId": account["records"][0]["Id"],
        "EffectiveDate": "2026-11-27",
        "Status": "Draft",
        "ErpStatus__c": "Confirmed",
    }
    seq = _last_seq(crm_url)
    call_options = {"Sforce-Call-Options": f"client={CLIENT}"}
    assert _obj(sf, "Order").upsert(f"ErpOrderRef__c/{ref}", body, headers=call_options) == 201
    legacy = _client(crm_url, sf.session_id, version="45.0")
    assert _obj(legacy, "Order").upsert(f"ErpOrderRef__c/{ref}", {"ErpStatus__c": "Planned"}) == 204
    updated = _obj(sf, "Order").upsert(
        f"ErpOrderRef__c/{ref}", {"ErpStatus__c": "Shipped"}, raw_response=True
    )
    assert updated.status_code == 200 and updated.json()["created"] is False
    order = _obj(sf, "Order").get_by_custom_id("ErpOrderRef__c", ref)
    assert order["ErpStatus__c"] == "Shipped"
    assert order["OrderNumber"].startswith("00000")
    actions = [(e["action"], e["key"], e["client"]) for e in _effects(crm_url, seq)]
    assert actions == [
        ("upsert-create", f"ErpOrderRef__c={ref}", CLIENT),
        ("upsert-update", f"ErpOrderRef__c={ref}", None),
        ("upsert-update", f"ErpOrderRef__c={ref}", None),
    ]


def test_upsert_with_several_matches_answers_300(sf: Salesforce) -> None:
    ref = _ref()
    account_id = sf.query("SELECT Id FROM Account LIMIT 1")["records"][0]["Id"]
    for _ in range(2):
        _obj(sf, "Order").create(
            {"AccountId": account_id, "EffectiveDate": "2026-11-27", "ErpOrderRef__c": ref}
        )
    with pytest.raises(SalesforceMoreThanOneRecord) as caught:
        _obj(sf, "Order").upsert(f"ErpOrderRef__c/{ref}", {"Description": "x"})
    assert caught.value.status == 300
    assert len(_content(caught.value)) == 2
    assert all(
        url.startswith("/services/data/v60.0/sobjects/Order/801") for url in _content(caught.value)
    )


def test_errors_are_salesforce_shaped(sf: Salesforce, crm_url: str) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught1:
        sf.query("SELECT Id FROM Lead WHERE")
    assert _content(caught1.value)[0]["errorCode"] == "MALFORMED_QUERY"
    with pytest.raises(SalesforceMalformedRequest) as caught2:
        sf.query("SELECT Id, Colour__c FROM Lead")
    assert _content(caught2.value)[0]["errorCode"] == "INVALID_FIELD"
    with pytest.raises(SalesforceMalformedRequest) as caught3:
        _obj(sf, "Lead").create({"FirstName": "芳"})
    assert _content(caught3.value) == [
        {
            "message": "Required fields are missing: [LastName, Company]",
            "errorCode": "REQUIRED_FIELD_MISSING",
            "fields": ["LastName", "Company"],
        }
    ]
    with pytest.raises(SalesforceResourceNotFound) as caught4:
        _obj(sf, "Lead").get("00Q5j00000ZZZZZ")
    assert _content(caught4.value)[0]["errorCode"] == "NOT_FOUND"
    with pytest.raises(SalesforceExpiredSession) as caught5:
        _client(crm_url, "00D!not-a-token").query("SELECT Id FROM Lead")
    assert _content(caught5.value)[0]["errorCode"] == "INVALID_SESSION_ID"


def test_system_modstamp_polling_sees_changes_in_order(sf: Salesforce, crm_url: str) -> None:
    watermark = sf.query("SELECT SystemModstamp FROM Order ORDER BY SystemModstamp DESC LIMIT 1")
    since = watermark["records"][0]["SystemModstamp"]
    account_id = sf.query("SELECT Id FROM Account LIMIT 1")["records"][0]["Id"]
    refs = [_ref() for _ in range(3)]
    for ref in refs:
        _obj(sf, "Order").upsert(
            f"BizbusKey__c/{ref}",
            {"AccountId": account_id, "EffectiveDate": "2026-11-27"},
            headers={"Sforce-Call-Options": f"client={CLIENT}"},
        )
    poll = (
        "SELECT Id, BizbusKey__c, SystemModstamp, LastModifiedById, bizbus_LastChangeClient__c "  # noqa: S608 - SOQL text, not SQL
        f"FROM Order WHERE SystemModstamp >= {since} ORDER BY SystemModstamp, Id LIMIT 200"
    )
    records = sf.query(poll)["records"]
    seen = [r["BizbusKey__c"] for r in records if r["BizbusKey__c"] in refs]
    assert seen == refs
    stamps = [r["SystemModstamp"] for r in records]
    assert stamps == sorted(stamps) and stamps[0] >= since
    assert {r["bizbus_LastChangeClient__c"] for r in records if r["BizbusKey__c"] in refs} == {
        CLIENT
    }
    z_form = since[:23] + "Z"  # 2026-11-27T05:00:00.123Z, the same instant
    assert sf.query(poll.replace(since, z_form))["totalSize"] == len(records)
