"""The sandbox CRM's sObject Collections over raw httpx, in the documented shape (API v42.0+).

One call creates or updates up to 200 records and answers one SaveResult per record in request
order; allOrNone rolls back every write of a call with a failing record; each call is one entry
in the request log (one API call), however many records it carries.
"""

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bizbus.deploy.sandbox.registry import SYSTEMS

V = "/services/data/v60.0"
URL = f"{V}/composite/sobjects"


@pytest.fixture
def api(crm_url: str) -> Iterator[httpx.Client]:
    token = httpx.post(
        f"{crm_url}/services/oauth2/token",
        data={"grant_type": "client_credentials", **SYSTEMS["crm"].credentials},
        timeout=5,
    ).json()["access_token"]
    with httpx.Client(
        base_url=crm_url, headers={"Authorization": f"Bearer {token}"}, timeout=10
    ) as client:
        yield client


def _products(n: int) -> list[dict[str, Any]]:
    tag = uuid.uuid4().hex[:6]
    return [
        {"attributes": {"type": "Product2"}, "Name": f"Coll {tag} {i}",
         "ProductCode": f"HL-C{tag}{i}"}
        for i in range(n)
    ]  # fmt: skip


def _requests(api: httpx.Client) -> int:
    return int(api.get("/_sandbox/requests").json()["total"])


def _name(api: httpx.Client, record_id: str) -> str:
    return str(api.get(f"{V}/sobjects/Product2/{record_id}").json()["Name"])


def test_200_records_are_created_in_one_api_call_with_results_in_order(
    api: httpx.Client,
) -> None:
    records = _products(200)
    before = _requests(api)
    answer = api.post(URL, json={"allOrNone": False, "records": records})
    assert _requests(api) == before + 1
    assert answer.status_code == 200
    results = answer.json()
    assert [r["success"] for r in results] == [True] * 200
    assert all(r["errors"] == [] and r["id"].startswith("01t") for r in results)
    assert [_name(api, results[i]["id"]) for i in (0, 199)] == [
        records[0]["Name"], records[199]["Name"]
    ]  # fmt: skip


def test_an_update_keeps_the_good_records_and_answers_the_bad_one_its_error(
    api: httpx.Client,
) -> None:
    ids = [r["id"] for r in api.post(URL, json={"records": _products(3)}).json()]
    updates = [
        {"attributes": {"type": "Product2"}, "id": ids[0], "Name": "first"},
        {"attributes": {"type": "Product2"}, "id": ids[1], "NoSuchField__c": 1},
        {"attributes": {"type": "Product2"}, "id": ids[2], "Name": "third"},
    ]
    results = api.patch(URL, json={"allOrNone": False, "records": updates}).json()
    assert [r["success"] for r in results] == [True, False, True]
    assert results[1]["id"] == ids[1]
    assert set(results[1]["errors"][0]) == {"statusCode", "message", "fields"}
    assert (_name(api, ids[0]), _name(api, ids[2])) == ("first", "third")


def test_all_or_none_rolls_back_every_write_of_the_call(api: httpx.Client) -> None:
    records = _products(2)
    ids = [r["id"] for r in api.post(URL, json={"records": records}).json()]
    updates = [
        {"attributes": {"type": "Product2"}, "id": ids[0], "Name": "changed"},
        {"attributes": {"type": "Product2"}, "Name": "no id"},
    ]
    results = api.patch(URL, json={"allOrNone": True, "records": updates}).json()
    assert [r["success"] for r in results] == [False, False]
    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert results[1]["errors"][0]["statusCode"] == "MISSING_ARGUMENT"
    assert _name(api, ids[0]) == records[0]["Name"]


def test_a_create_that_carries_an_id_fails_alone(api: httpx.Client) -> None:
    records = _products(2)
    records[0]["Id"] = "01t000000000001AAA"
    results = api.post(URL, json={"records": records}).json()
    assert [r["success"] for r in results] == [False, True]
    assert results[0]["errors"][0]["statusCode"] == "INVALID_FIELD"


def test_more_than_200_records_are_refused_whole(api: httpx.Client) -> None:
    answer = api.post(URL, json={"records": _products(201)})
    assert answer.status_code == 400
    assert answer.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


def test_collections_need_api_v42(api: httpx.Client) -> None:
    answer = api.post("/services/data/v41.0/composite/sobjects", json={"records": _products(1)})
    assert answer.status_code == 404
