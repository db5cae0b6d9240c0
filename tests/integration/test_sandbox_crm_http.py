"""The sandbox CRM over raw httpx: faults, effects log, versions, describe, upsert rules."""

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bizbus.deploy.sandbox.registry import SYSTEMS

V = "/services/data/v60.0"


@pytest.fixture
def api(crm_url: str) -> Iterator[httpx.Client]:
    token = httpx.post(
        f"{crm_url}/services/oauth2/token",
        data={"grant_type": "client_credentials", **SYSTEMS["crm"].credentials},
        timeout=5,
    ).json()["access_token"]
    with httpx.Client(
        base_url=crm_url, headers={"Authorization": f"Bearer {token}"}, timeout=5
    ) as client:
        yield client
        client.delete("/_sandbox/faults")


def _plan(api: httpx.Client, **plan: Any) -> None:
    assert api.post("/_sandbox/faults", json=plan).status_code == 200


def test_scripted_503_then_normal_service(api: httpx.Client) -> None:
    _plan(api, script=[503])
    failed = api.get(f"{V}/query", params={"q": "SELECT Id FROM Lead LIMIT 1"})
    assert failed.status_code == 503
    assert failed.json() == [
        {
            "message": "Server temporarily unavailable; please try again later.",
            "errorCode": "SERVER_UNAVAILABLE",
        }
    ]
    assert api.get(f"{V}/query", params={"q": "SELECT Id FROM Lead LIMIT 1"}).status_code == 200


def test_429_carries_retry_after_and_a_salesforce_body(api: httpx.Client) -> None:
    _plan(api, rate_limit_rate=1.0, retry_after_s=7)
    limited = api.get(f"{V}/sobjects")
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "7"
    assert limited.json()[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    assert api.get("/_sandbox/health").status_code == 200


def test_effects_log_records_writes_with_call_options_client(api: httpx.Client) -> None:
    since = max([e["seq"] for e in api.get("/_sandbox/effects").json()["effects"]], default=0)
    ref = f"HL-T{uuid.uuid4().hex[:6]}"
    headers = {"Sforce-Call-Options": "client=bizbus-erp-sync, defaultNamespace=bizbus"}
    created = api.patch(
        f"{V}/sobjects/Product2/ErpProductRef__c/{ref}",
        json={"Name": "HL-VMC650 立式加工中心", "ModelRevision__c": "A", "IsActive": True},
        headers=headers,
    )
    assert created.status_code == 201 and created.json()["created"] is True
    product_id = created.json()["id"]
    assert (
        api.patch(
            f"{V}/sobjects/Product2/{product_id}",
            json={"ModelRevision__c": "B"},
            headers={"Sforce-Call-Options": "client=crm-ui"},
        ).status_code
        == 204
    )
    effects = api.get("/_sandbox/effects", params={"since": since, "object": "Product2"}).json()
    mine = [e for e in effects["effects"] if e["record_id"] == product_id]
    assert [(e["action"], e["key"], e["client"]) for e in mine] == [
        ("upsert-create", f"ErpProductRef__c={ref}", "bizbus-erp-sync"),
        ("update", f"ErpProductRef__c={ref}", "crm-ui"),
    ]
    assert mine[1]["detail"]["fields"] == {"ModelRevision__c": "B"}
    record = api.get(f"{V}/sobjects/Product2/{product_id}").json()
    assert record["bizbus_LastChangeClient__c"] == "crm-ui"
    assert record["ModelRevision__c"] == "B"


def test_order_items_roll_up_into_the_order_total(api: httpx.Client) -> None:
    q = (
        "SELECT Id, Pricebook2Id, UnitPrice FROM PricebookEntry "
        "WHERE ErpPriceRef__c = 'HL-VMC850-DLR'"
    )
    entry = api.get(f"{V}/query", params={"q": q}).json()["records"][0]
    account = api.get(f"{V}/sobjects/Account/ErpCustomerRef__c/C10003").json()
    order = api.post(
        f"{V}/sobjects/Order/",
        json={
            "AccountId": account["Id"],
            "EffectiveDate": "2026-11-27",
            "Pricebook2Id": entry["Pricebook2Id"],
            "BizbusKey__c": uuid.uuid4().hex,
        },
    ).json()
    item = api.post(
        f"{V}/sobjects/OrderItem",
        json={
            "OrderId": order["id"],
            "PricebookEntryId": entry["Id"],
            "Quantity": 3,
            "UnitPrice": entry["UnitPrice"],
        },
    )
    assert item.status_code == 201
    line = api.get(f"{V}/sobjects/OrderItem/{item.json()['id']}").json()
    assert line["Product2Id"].startswith("01t")
    assert line["TotalPrice"] == round(3 * entry["UnitPrice"], 2)
    total = api.get(f"{V}/sobjects/Order/{order['id']}", params={"fields": "TotalAmount"}).json()
    assert total["TotalAmount"] == line["TotalPrice"]
    assert set(total) == {"attributes", "TotalAmount"}


def test_write_rules_answer_like_salesforce(api: httpx.Client) -> None:
    account = api.get(f"{V}/sobjects/Account/ErpCustomerRef__c/C10001").json()
    key = uuid.uuid4().hex
    body = {"AccountId": account["Id"], "EffectiveDate": "2026-11-27", "BizbusKey__c": key}
    assert api.post(f"{V}/sobjects/Order", json=body).status_code == 201
    duplicate = api.post(f"{V}/sobjects/Order", json=body)
    assert duplicate.status_code == 400
    assert duplicate.json()[0]["errorCode"] == "DUPLICATE_VALUE"
    read_only = api.post(f"{V}/sobjects/Order", json={**body, "SystemModstamp": "x"})
    assert read_only.json()[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    bad_status = api.post(f"{V}/sobjects/Order", json={**body, "Status": "Shipped"})
    assert bad_status.json()[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    in_body = api.patch(f"{V}/sobjects/Order/BizbusKey__c/{key}", json={"BizbusKey__c": key})
    assert in_body.status_code == 400
    update_only = api.patch(
        f"{V}/sobjects/Order/BizbusKey__c/nope",
        params={"updateOnly": "true"},
        json={"Description": "x"},
    )
    assert update_only.status_code == 404
    not_external = api.patch(f"{V}/sobjects/Order/Name/x", json={})
    assert not_external.status_code == 404
    assert not_external.json()[0]["errorCode"] == "NOT_FOUND"


def test_versions_describe_limits_and_any_version(api: httpx.Client) -> None:
    versions = api.get("/services/data/").json()
    assert {"label": "Spring '24", "url": "/services/data/v60.0", "version": "60.0"} in versions
    describe = api.get("/services/data/v58.0/sobjects/Order/describe").json()
    fields = {f["name"]: f for f in describe["fields"]}
    assert describe["keyPrefix"] == "801"
    assert fields["ErpOrderRef__c"]["externalId"] is True
    assert fields["bizbus_LastChangeClient__c"]["updateable"] is False
    assert fields["AccountId"]["referenceTo"] == ["Account"]
    limits = api.get(f"{V}/limits")
    assert limits.json()["DailyApiRequests"]["Max"] == 15000
    assert limits.headers["sforce-limit-info"].startswith("api-usage=")
    assert api.get("/services/data/v60.1/sobjects").status_code == 404


def test_username_password_flow_records_a_different_user(api: httpx.Client, crm_url: str) -> None:
    token = httpx.post(
        f"{crm_url}/services/oauth2/token",
        timeout=5,
        data={
            "grant_type": "password",
            **SYSTEMS["crm"].credentials,
            "username": "wang.fang@hengli-demo.cn",
            "password": "sandbox-user-password",
        },
    ).json()
    human = {"Authorization": f"Bearer {token['access_token']}"}
    lead = api.get(f"{V}/query", params={"q": "SELECT Id FROM Lead LIMIT 1"}).json()["records"][0]
    assert (
        api.patch(
            f"{V}/sobjects/Lead/{lead['Id']}", json={"Title": "采购总监"}, headers=human
        ).status_code
        == 204
    )
    q = f"SELECT LastModifiedById, bizbus_LastChangeClient__c FROM Lead WHERE Id = '{lead['Id']}'"  # noqa: S608 - SOQL text, not SQL
    record = api.get(f"{V}/query", params={"q": q}).json()["records"][0]
    users = api.get(
        f"{V}/query",
        params={"q": "SELECT Id FROM User WHERE Username = 'wang.fang@hengli-demo.cn'"},
    ).json()
    assert record["LastModifiedById"] == users["records"][0]["Id"]
    assert record["bizbus_LastChangeClient__c"] is None
    revoke = httpx.post(f"{crm_url}/services/oauth2/revoke", data={"token": token["access_token"]})
    assert revoke.status_code == 200
    assert api.get(f"{V}/limits", headers=human).status_code == 401
