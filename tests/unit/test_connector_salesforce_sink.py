"""Salesforce client and sink through MockTransport with responses recorded from the sandbox CRM.

Covers: token and Call-Options headers, query paging, upsert statuses 201/200/204/300, update
by id, UNCHANGED by comparison, references, error mapping without values, settings messages.
"""

import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from bizbus.connectors.base import Outcome, Sink, SinkCommand, Source
from bizbus.connectors.errors import (
    AuthError,
    ConfigError,
    MappingError,
    RejectedError,
    SchemaError,
)
from bizbus.connectors.registry import DIALECTS
from bizbus.connectors.retry import RetryPolicy
from bizbus.connectors.salesforce import SalesforceConnector, SalesforceSettings
from bizbus.connectors.salesforce.sink import same_value
from bizbus.connectors.settings import load_settings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "salesforce"
BASE = "https://hengli.my.salesforce.com"
V = "/services/data/v60.0"
Handler = Callable[[httpx.Request], httpx.Response]


def recorded(name: str) -> httpx.Response:
    data = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    if data["body"] is None:
        return httpx.Response(data["status"])
    return httpx.Response(data["status"], json=data["body"])


class Org:
    """Answers the token call from the recording, then routes data calls to ``handler``."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/services/oauth2/token":
            return recorded("token")
        assert request.headers["Authorization"] == "Bearer 00D5j000000Heng!recorded-token"
        return self.handler(request)

    def data(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path.startswith("/services/data/")]


def settings(**values: Any) -> SalesforceSettings:
    return load_settings(
        SalesforceSettings,
        **{"base_url": BASE, "client_id": "3MVG9", "client_secret": "s3cr3t", **values},
    )


def connector(org: Org, **values: Any) -> SalesforceConnector:
    return SalesforceConnector(
        settings(**values),
        transport=httpx.MockTransport(org),
        retry=RetryPolicy(attempts=2, initial=0, max_backoff=0, jitter=0),
    )


def body(request: httpx.Request) -> Any:
    return json.loads(request.content)


async def test_every_request_carries_the_call_options_client_and_the_bearer_token() -> None:
    org = Org(lambda r: recorded("upsert_created"))
    async with connector(org, client_tag="bizbus-erp", compare_before_write=False) as crm:
        await crm.apply(SinkCommand("Product2", "HL-REC-1", {"Name": "HL-VMC850"}))
    token_call, write = org.requests
    assert token_call.content.decode().count("grant_type=client_credentials") == 1
    assert write.headers["Sforce-Call-Options"] == "client=bizbus-erp"
    assert write.method == "PATCH"
    assert write.url.path == f"{V}/sobjects/Product2/ErpProductRef__c/HL-REC-1"
    assert body(write) == {"Name": "HL-VMC850"}
    assert crm.integration_user_id == "0055j000000CaR7AAK"


async def test_query_follows_next_records_url_to_the_last_page() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == f"{V}/query":
            assert request.headers["Sforce-Query-Options"] == "batchSize=2"
            return recorded("query_orders_page1")
        assert request.url.path == f"{V}/query/01g5j0000000001AAA-2"
        return recorded("query_orders_page2")

    org = Org(handler)
    async with connector(org) as crm:
        rows = await crm.query("SELECT Id FROM Order", batch_size=2)
    assert [row["OrderNumber"] for row in rows] == ["00000100", "00000101", "00000102"]
    assert all("attributes" not in row for row in rows)
    assert len(org.data()) == 2


@pytest.mark.parametrize(
    ("response", "outcome"),
    [
        (recorded("upsert_created"), Outcome.CREATED),
        (recorded("upsert_updated"), Outcome.UPDATED),
    ],
)
async def test_upsert_statuses_map_to_outcomes(response: httpx.Response, outcome: Outcome) -> None:
    org = Org(lambda r: response)
    async with connector(org, compare_before_write=False) as crm:
        result = await crm.apply(SinkCommand("Product2", "HL-REC-1", {"Name": "HL-VMC850"}))
    assert result.outcome is outcome
    assert result.external_ids == {"salesforce_id": response.json()["id"]}


async def test_a_204_upsert_of_an_old_api_version_looks_the_id_up() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "PATCH":
            assert request.url.path.startswith("/services/data/v45.0/")
            return httpx.Response(204)
        assert "ErpProductRef__c = 'HL-REC-1'" in request.url.params["q"]
        return httpx.Response(200, json={"totalSize": 1, "done": True, "records": [{"Id": "01tX"}]})

    async with connector(Org(handler), api_version="v45.0", compare_before_write=False) as crm:
        result = await crm.apply(SinkCommand("Product2", "HL-REC-1", {"Name": "HL-VMC850"}))
    assert result.outcome is Outcome.UPDATED
    assert result.external_ids == {"salesforce_id": "01tX"}


async def test_300_several_matches_is_rejected_without_the_key() -> None:
    org = Org(lambda r: recorded("upsert_several"))
    async with connector(org, compare_before_write=False) as crm:
        with pytest.raises(RejectedError, match="several Order records") as caught:
            await crm.apply(SinkCommand("Order", "ErpOrderRef__c=SO-DUP", {"ErpStatus__c": "X"}))
    assert caught.value.status_code == 300
    assert "SO-DUP" not in str(caught.value)
    assert org.data()[0].url.path == f"{V}/sobjects/Order/ErpOrderRef__c/SO-DUP"


@pytest.mark.parametrize(
    ("fixture", "command", "error", "expected", "hidden"),
    [
        (
            "error_required_missing",
            SinkCommand("Order", "K-REC-1", {"Name": "王芳的订单"}),
            RejectedError,
            "salesforce: PATCH answered 400 Bad Request "
            "(Order/BizbusKey__c: REQUIRED_FIELD_MISSING [AccountId, EffectiveDate])",
            ["王芳", "K-REC-1"],
        ),
        (
            "error_invalid_field",
            SinkCommand("Account", "C10001", {"Phone__x": "13800000000"}),
            RejectedError,
            "salesforce: PATCH answered 400 Bad Request "
            "(Account/ErpCustomerRef__c: INVALID_FIELD [Phone__x])",
            ["13800000000", "C10001", "No such column"],
        ),
        (
            "error_invalid_session",
            SinkCommand("Account", "C10001", {"Phone": "13800000000"}),
            AuthError,
            "salesforce: PATCH answered 401 Unauthorized "
            "(Account/ErpCustomerRef__c: INVALID_SESSION_ID)",
            ["13800000000", "C10001"],
        ),
    ],
)
async def test_salesforce_errors_name_codes_and_fields_never_values(
    fixture: str, command: SinkCommand, error: type[Exception], expected: str, hidden: list[str]
) -> None:
    org = Org(lambda r: recorded(fixture))
    async with connector(org, compare_before_write=False) as crm:
        with pytest.raises(error) as caught:
            await crm.apply(command)
    assert str(caught.value) == expected
    for text in hidden:
        assert text not in str(caught.value)


async def test_a_401_refreshes_the_token_once_then_is_an_auth_error() -> None:
    org = Org(lambda r: recorded("error_invalid_session"))
    async with connector(org) as crm:
        with pytest.raises(AuthError):
            await crm.ping()
    paths = [r.url.path for r in org.requests]
    assert paths == ["/services/oauth2/token", V, "/services/oauth2/token", V]


async def test_refused_client_credentials_are_an_auth_error_without_the_secret() -> None:
    org = Org(lambda r: httpx.Response(500))
    org_token = recorded("token_invalid_client")

    def transport(request: httpx.Request) -> httpx.Response:
        org.requests.append(request)
        return org_token

    crm = SalesforceConnector(settings(), transport=httpx.MockTransport(transport))
    async with crm:
        with pytest.raises(AuthError, match="invalid_client") as caught:
            await crm.ping()
    assert "s3cr3t" not in str(caught.value)
    assert len(org.requests) == 1


async def test_compare_first_reports_unchanged_and_skips_the_write() -> None:
    current = {"Id": "01tA", "Name": "HL-VMC850", "IsActive": True, "ModelRevision__c": None}

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.method == "GET"
        assert request.url.params["fields"] == "Id,Name,IsActive,ModelRevision__c"
        return httpx.Response(200, json={"attributes": {"type": "Product2"}, **current})

    org = Org(handler)
    payload = {"Name": "HL-VMC850", "IsActive": True, "ModelRevision__c": ""}
    async with connector(org) as crm:
        result = await crm.apply(SinkCommand("Product2", "HL-VMC850", payload))
    assert result.outcome is Outcome.UNCHANGED
    assert result.external_ids == {"salesforce_id": "01tA"}
    assert [r.method for r in org.data()] == ["GET"]


async def test_compare_first_writes_only_what_salesforce_lets_change() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if "/query" in path:
            soql = request.url.params["q"]
            assert "FROM Product2 WHERE ErpProductRef__c = 'HL-VMC850'" in soql
            return httpx.Response(200, json={"totalSize": 1, "done": True,
                                             "records": [{"Id": "01tA"}]})  # fmt: skip
        if request.method == "GET":
            return httpx.Response(200, json={"Id": "01uA", "UnitPrice": 100.0,
                                             "Product2Id": "01tA"})  # fmt: skip
        return httpx.Response(200, json={"id": "01uA", "success": True, "created": False})

    org = Org(handler)
    payload = {"Product2": {"ErpProductRef__c": "HL-VMC850"}, "UnitPrice": Decimal("120.50")}
    async with connector(org) as crm:
        result = await crm.apply(SinkCommand("PricebookEntry", "HL-VMC850-LIST", payload))
        again = await crm.find_id("Product2", "ErpProductRef__c", "HL-VMC850")
    assert result.outcome is Outcome.UPDATED and again == "01tA"
    write = org.data()[-1]
    assert write.method == "PATCH" and body(write) == {"UnitPrice": 120.5}
    assert sum(1 for r in org.data() if "/query" in r.url.path) == 1  # lookup cached


async def test_a_new_price_book_entry_goes_into_the_standard_book() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if "/query" in request.url.path:
            assert "FROM Pricebook2 WHERE IsStandard = true" in request.url.params["q"]
            return httpx.Response(200, json={"totalSize": 1, "done": True,
                                             "records": [{"Id": "01sSTD"}]})  # fmt: skip
        if request.method == "GET":
            return httpx.Response(404, json=[{"errorCode": "NOT_FOUND", "message": "nf"}])
        return httpx.Response(201, json={"id": "01uNEW", "success": True, "created": True})

    org = Org(handler)
    payload = {"Product2Id": "01tA", "UnitPrice": 99}
    async with connector(org) as crm:
        result = await crm.apply(SinkCommand("PricebookEntry", "HL-VMC850-LIST", payload))
    assert result.outcome is Outcome.CREATED
    assert body(org.data()[-1]) == {"Product2Id": "01tA", "UnitPrice": 99, "Pricebook2Id": "01sSTD"}


async def test_write_back_by_id_patches_the_order() -> None:
    org = Org(lambda r: httpx.Response(204))
    fields = {"ErpOrderRef__c": "SO-7", "ErpOrderNumber__c": "S00007", "ErpStatus__c": "Confirmed"}
    async with connector(org, compare_before_write=False) as crm:
        result = await crm.apply(SinkCommand("Order", "Id=8015j000000CaR7AAK", fields))
    assert result.outcome is Outcome.UPDATED
    assert result.external_ids == {"salesforce_id": "8015j000000CaR7AAK"}
    (write,) = org.data()
    assert write.method == "PATCH" and write.url.path == f"{V}/sobjects/Order/8015j000000CaR7AAK"
    assert body(write) == fields


async def test_bad_commands_fail_before_any_call() -> None:
    org = Org(lambda r: httpx.Response(200, json={"totalSize": 0, "done": True, "records": []}))
    async with connector(org, compare_before_write=False) as crm:
        with pytest.raises(SchemaError, match="unsupported object"):
            await crm.apply(SinkCommand("Opportunity", "X", {}))
        with pytest.raises(SchemaError, match="unlike its key"):
            await crm.apply(SinkCommand("Account", "C-1", {"ErpCustomerRef__c": "C-2"}))
        with pytest.raises(SchemaError, match="empty"):
            await crm.apply(SinkCommand("Order", "Id=", {}))
        with pytest.raises(MappingError, match="no Account with that ErpCustomerRef__c"):
            await crm.apply(SinkCommand("Order", "K", {"Account": {"ErpCustomerRef__c": "C-9"}}))
    assert all("/query" in r.url.path for r in org.data())


def test_same_value_compares_as_salesforce_stores() -> None:
    assert same_value(1350.5, Decimal("1350.50"))
    assert same_value(2.0, 2)
    assert same_value("2026-11-27T05:00:00.000+0000", "2026-11-27T13:00:00+08:00")
    assert same_value(None, "")
    assert not same_value(False, 0)
    assert not same_value("Draft", "Activated")
    assert not same_value(None, 0)


def test_settings_errors_name_the_variable_and_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BIZBUS_CRM_BASE_URL", "BIZBUS_CRM_CLIENT_ID", "BIZBUS_CRM_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BIZBUS_CRM_BASE_URL", "hengli.my.salesforce.com")
    monkeypatch.setenv("BIZBUS_CRM_CLIENT_ID", "3MVG9")
    monkeypatch.setenv("BIZBUS_CRM_API_VERSION", "60")
    with pytest.raises(ConfigError) as caught:
        load_settings(SalesforceSettings)
    lines = str(caught.value).split("; ")
    assert lines[0].startswith("BIZBUS_CRM_BASE_URL is invalid (")
    assert "must start with https://" in lines[0]
    assert "set it to the org's instance URL" in lines[0]
    assert lines[1] == (
        "BIZBUS_CRM_CLIENT_SECRET is missing: set it to the connected app's consumer secret"
    )
    assert lines[2].startswith("BIZBUS_CRM_API_VERSION is invalid (") and "v60.0" in lines[2]


async def test_the_connector_is_a_source_and_a_sink() -> None:
    async with connector(Org(lambda r: httpx.Response(200, json={}))) as crm:
        assert isinstance(crm, Source) and isinstance(crm, Sink)
        await crm.ping()


def test_settings_defaults_and_the_registry_line() -> None:
    loaded = settings(base_url=BASE + "/")
    assert loaded.base_url == BASE and loaded.api_version == "v60.0"
    assert loaded.client_tag == "bizbus" and loaded.echo_field == "bizbus_LastChangeClient__c"
    assert loaded.resolved_token_url() == BASE + "/services/oauth2/token"
    assert "s3cr3t" not in repr(loaded)
    assert DIALECTS["salesforce"].connector_class() is SalesforceConnector
