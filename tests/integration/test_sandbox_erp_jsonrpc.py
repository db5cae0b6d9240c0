"""odoorpc (JSON-RPC) and JSON-2 over httpx against the sandbox ERP, unchanged public clients."""

import uuid
from urllib.parse import urlparse

import httpx
import odoorpc
import pytest

from bizbus.deploy.sandbox.registry import SYSTEMS

CREDS = SYSTEMS["erp"].credentials


def connect(erp_url: str) -> odoorpc.ODOO:
    url = urlparse(erp_url)
    odoo = odoorpc.ODOO(url.hostname, port=url.port)
    odoo.login(CREDS["db"], CREDS["integration_login"], CREDS["integration_password"])
    return odoo


def test_odoorpc_logs_in_and_uses_models(erp_url: str) -> None:
    odoo = connect(erp_url)
    assert odoo.version == "17.0"
    assert odoo.env.uid == 3 and odoo.env.context["tz"] == "Asia/Shanghai"
    assert odoo.env.user.name == "bizbus 集成用户"
    Partner = odoo.env["res.partner"]
    [pid] = Partner.search([("ref", "=", "C10002")])
    partner = Partner.browse(pid)
    assert partner.user_id.name == "张伟"
    ref = f"CRM-ACC-{uuid.uuid4().hex[:8]}"
    new_id = Partner.create({"name": "杭州新客户有限公司", "ref": ref, "is_company": True})
    record = Partner.browse(new_id)
    record.city = "杭州"  # odoorpc writes on assignment
    rows = odoo.execute_kw(
        "res.partner", "search_read", [[("ref", "=", ref)]], {"fields": ["city", "write_uid"]}
    )
    assert rows == [{"id": new_id, "city": "杭州", "write_uid": [3, "bizbus 集成用户"]}]
    Product = odoo.env["product.product"]
    [product] = Product.browse(Product.search([("default_code", "=", "HL-VMC850")]))
    assert product.lst_price == 268000.0 and product.product_tmpl_id.x_model_revision == "C"


def test_odoorpc_sees_odoo_errors(erp_url: str) -> None:
    odoo = connect(erp_url)
    with pytest.raises(odoorpc.error.RPCError) as missing:
        odoo.execute_kw("res.partner", "read", [[999999]], {"fields": ["name"]})
    assert missing.value.info["code"] == 200
    assert missing.value.info["data"]["name"] == "odoo.exceptions.MissingError"
    url = urlparse(erp_url)
    with pytest.raises(odoorpc.error.RPCError, match="Wrong login"):
        odoorpc.ODOO(url.hostname, port=url.port).login(CREDS["db"], "admin", "wrong")


def test_jsonrpc_error_envelope_is_odoo_shaped(erp_url: str) -> None:
    body = {
        "jsonrpc": "2.0",
        "method": "call",
        "id": 7,
        "params": {
            "service": "object",
            "method": "execute_kw",
            "args": [CREDS["db"], 2, "wrong", "res.partner", "search", [[]]],
        },
    }
    reply = httpx.post(f"{erp_url}/jsonrpc", json=body).json()
    assert reply["id"] == 7 and reply["error"]["code"] == 200
    assert reply["error"]["message"] == "Odoo Server Error"
    assert reply["error"]["data"]["name"] == "odoo.exceptions.AccessDenied"


def test_json2_with_bearer_key(erp_url: str) -> None:
    headers = {"Authorization": f"bearer {CREDS['integration_api_key']}"}
    with httpx.Client(base_url=f"{erp_url}/json/2", headers=headers) as client:
        found = client.post(
            "/product.product/search_read",
            json={
                "domain": [["default_code", "=", "HL-CK6150"]],
                "fields": ["lst_price", "display_name"],
            },
        )
        assert found.status_code == 200
        assert found.json()[0]["display_name"] == "[HL-CK6150] HL-CK6150 数控车床"
        ref = f"OA-{uuid.uuid4().hex[:8]}"
        trip = client.post("/hr.leave.type/search", json={"domain": [["code", "=", "TRIP"]]}).json()
        emp = client.post(
            "/hr.employee/search", json={"domain": [["barcode", "=", "E1003"]]}
        ).json()
        created = client.post(
            "/hr.leave/create",
            json={
                "vals_list": [
                    {
                        "holiday_status_id": trip[0],
                        "employee_id": emp[0],
                        "x_external_ref": ref,
                        "request_date_from": "2031-03-02",
                        "request_date_to": "2031-03-04",
                        "name": "出差: 上海 工博会",
                    }
                ]
            },
        )
        assert created.status_code == 200
        [leave] = created.json()
        assert client.post("/hr.leave/action_validate", json={"ids": [leave]}).json() is True
        read = client.post(
            "/hr.leave/read", json={"ids": [leave], "fields": ["state", "write_uid"]}
        )
        assert read.json() == [
            {"id": leave, "state": "validate", "write_uid": [3, "bizbus 集成用户"]}
        ]

        unauthorized = httpx.post(
            f"{erp_url}/json/2/res.partner/search",
            json={"domain": []},
            headers={"Authorization": "bearer nope"},
        )
        assert unauthorized.status_code == 401
        assert unauthorized.json()["name"] == "odoo.exceptions.AccessDenied"
        assert client.post("/no.model/search", json={}).status_code == 404
        assert client.post("/res.partner/frobnicate", json={}).status_code == 404
        bad = client.post("/res.partner/search_read", json={"domain": [["nope", "=", 1]]})
        assert bad.status_code == 422 and "Invalid field" in bad.json()["message"]
        again = client.post(
            "/hr.leave/create",
            json={
                "vals_list": [
                    {
                        "holiday_status_id": trip[0],
                        "employee_id": emp[0],
                        "x_external_ref": ref,
                        "request_date_from": "2031-06-02",
                        "request_date_to": "2031-06-02",
                    }
                ]
            },
        )
        assert again.status_code == 422
        assert again.json()["name"] == "odoo.exceptions.ValidationError"


def test_injected_faults_are_visible_then_cleared(erp_url: str) -> None:
    control = f"{erp_url}/_sandbox/faults"
    headers = {"Authorization": f"bearer {CREDS['api_key']}"}
    call = f"{erp_url}/json/2/res.partner/search_count"
    try:
        httpx.post(control, json={"script": [503, 429]}).raise_for_status()
        first = httpx.post(call, json={"domain": []}, headers=headers)
        assert first.status_code == 503
        assert first.json()["name"] == "werkzeug.exceptions.ServiceUnavailable"
        second = httpx.post(call, json={"domain": []}, headers=headers)
        assert second.status_code == 429 and second.headers["retry-after"] == "1"
        assert httpx.post(call, json={"domain": []}, headers=headers).status_code == 200
        httpx.post(control, json={"rate_limit_rate": 1.0, "retry_after_s": 7}).raise_for_status()
        limited = httpx.post(
            f"{erp_url}/jsonrpc",
            json={
                "jsonrpc": "2.0",
                "method": "call",
                "params": {"service": "common", "method": "version", "args": []},
            },
        )
        assert limited.status_code == 429 and limited.headers["retry-after"] == "7"
    finally:
        httpx.delete(control).raise_for_status()
    assert httpx.post(call, json={"domain": []}, headers=headers).status_code == 200
