"""People using each system through its own API, as the story's staff would.

They act as humans, not as bizbus: the CRM user logs in with their own password (so their edits
are not mistaken for our echoes), the ERP user is the administrator, the OA user is the app
acting for the applicant and the approver. Used by the demo and the end-to-end tests.
"""

import json
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from bizbus.connectors.salesforce.soql import format_soql
from bizbus.deploy.sandbox.registry import SYSTEMS

SHANGHAI = ZoneInfo("Asia/Shanghai")
CRM_API = "/services/data/v60.0"
CRM_HUMAN_PASSWORD = "sandbox-user-password"  # noqa: S105 - the sandbox's documented password


class CrmUser:
    """A salesperson in the CRM (Salesforce REST API)."""

    def __init__(self, base_url: str, username: str) -> None:
        self.http = httpx.AsyncClient(base_url=base_url, timeout=10)
        self.username = username

    async def login(self) -> "CrmUser":
        """Log in with the OAuth username-password flow."""
        crm = SYSTEMS["crm"].credentials
        response = await self.http.post(
            "/services/oauth2/token",
            data={
                "grant_type": "password",
                "client_id": crm["client_id"],
                "client_secret": crm["client_secret"],
                "username": self.username,
                "password": CRM_HUMAN_PASSWORD,
            },
        )
        response.raise_for_status()
        self.http.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
        return self

    async def query(self, soql: str) -> list[dict[str, Any]]:
        """Return every record of a SOQL query."""
        response = await self.http.get(f"{CRM_API}/query", params={"q": soql})
        response.raise_for_status()
        body = response.json()
        records: list[dict[str, Any]] = body["records"]
        while not body.get("done", True):
            body = (await self.http.get(body["nextRecordsUrl"])).raise_for_status().json()
            records.extend(body["records"])
        return records

    async def create(self, obj: str, fields: dict[str, Any]) -> str:
        """Create a record and return its id."""
        response = await self.http.post(f"{CRM_API}/sobjects/{obj}", json=fields)
        response.raise_for_status()
        record_id: str = response.json()["id"]
        return record_id

    async def update(self, obj: str, record_id: str, fields: dict[str, Any]) -> None:
        """Update fields of a record."""
        (
            await self.http.patch(f"{CRM_API}/sobjects/{obj}/{record_id}", json=fields)
        ).raise_for_status()

    async def get(self, obj: str, record_id: str) -> dict[str, Any]:
        """Return a record."""
        response = await self.http.get(f"{CRM_API}/sobjects/{obj}/{record_id}")
        response.raise_for_status()
        record: dict[str, Any] = response.json()
        return record

    async def price_entry(self, model_code: str) -> dict[str, Any]:
        """Return the standard price-book entry of a product model."""
        rows = await self.query(
            format_soql(
                "SELECT Id, UnitPrice, Pricebook2Id, Product2Id FROM PricebookEntry "
                "WHERE Product2.ProductCode = {code} AND Pricebook2.IsStandard = true",
                code=model_code,
            )
        )
        if not rows:
            raise LookupError(f"no standard price for {model_code} in the CRM")
        return rows[0]

    async def place_order(
        self, account_id: str, lines: list[tuple[str, int, Decimal]], *, activate: bool = True
    ) -> str:
        """Create an order with lines (model code, quantity, agreed price) and activate it."""
        entries = [await self.price_entry(code) for code, _, _ in lines]
        order_id = await self.create(
            "Order",
            {
                "AccountId": account_id,
                "EffectiveDate": datetime.now(SHANGHAI).date().isoformat(),
                "Status": "Draft",
                "Pricebook2Id": entries[0]["Pricebook2Id"],
                "CurrencyIsoCode": "CNY",
            },
        )
        for entry, (_, quantity, price) in zip(entries, lines, strict=True):
            await self.create(
                "OrderItem",
                {"OrderId": order_id, "PricebookEntryId": entry["Id"], "Quantity": quantity,
                 "UnitPrice": float(price)},
            )  # fmt: skip
        if activate:
            await self.update("Order", order_id, {"Status": "Activated"})
        return order_id

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.http.aclose()


class ErpUser:
    """The ERP administrator (Odoo JSON-RPC `execute_kw`)."""

    def __init__(self, base_url: str) -> None:
        erp = SYSTEMS["erp"].credentials
        self.http = httpx.AsyncClient(base_url=base_url, timeout=10)
        self.db, self.login, self.password = erp["db"], erp["login"], erp["password"]
        self.uid: int | None = None
        self._id = 0

    async def _call(self, service: str, method: str, *args: Any) -> Any:
        self._id += 1
        response = await self.http.post(
            "/jsonrpc",
            json={"jsonrpc": "2.0", "method": "call", "id": self._id,
                  "params": {"service": service, "method": method, "args": list(args)}},
        )  # fmt: skip
        response.raise_for_status()
        body = response.json()
        if "error" in body:
            raise RuntimeError(f"ERP error: {body['error']['data'].get('message')}")
        return body["result"]

    async def execute(self, model: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call `model.method(*args, **kwargs)` as the administrator."""
        if self.uid is None:
            self.uid = await self._call(
                "common", "authenticate", self.db, self.login, self.password, {}
            )
        return await self._call(
            "object",
            "execute_kw",
            self.db,
            self.uid,
            self.password,
            model,
            method,
            list(args),
            kwargs,
        )

    async def search_read(
        self, model: str, domain: list[Any], fields: list[str]
    ) -> list[dict[str, Any]]:
        """Return matching records with `fields`."""
        rows: list[dict[str, Any]] = await self.execute(model, "search_read", domain, fields=fields)
        return rows

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.http.aclose()


class OaUser:
    """Staff filing and approving requests in the OA (Feishu approval v4), via the app."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.AsyncClient(base_url=base_url, timeout=10)

    async def _token(self) -> None:
        if "Authorization" in self.http.headers:
            return
        oa = SYSTEMS["oa"].credentials
        response = await self.http.post(
            "/open-apis/auth/v3/tenant_access_token/internal",
            json={"app_id": oa["app_id"], "app_secret": oa["app_secret"]},
        )
        self.http.headers["Authorization"] = f"Bearer {response.json()['tenant_access_token']}"

    async def _v4(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        await self._token()
        response = await self.http.request(method, f"/open-apis/approval/v4{path}", **kwargs)
        body: dict[str, Any] = response.json()
        if body.get("code") != 0:
            raise RuntimeError(f"OA error {body.get('code')}: {body.get('msg')}")
        data: dict[str, Any] = body.get("data") or {}
        return data

    async def file_trip(
        self,
        approval_code: str,
        user_id: str,
        *,
        destination: str,
        start: date,
        days: int,
        purpose: str,
        uuid: str,
    ) -> str:
        """File a travel request for `user_id`; return the instance code."""
        begin = datetime.combine(start, time(9), SHANGHAI)
        end = datetime.combine(start + timedelta(days=days - 1), time(18), SHANGHAI)
        form = [
            {"id": "widget_trip", "type": "tripGroup", "value": {
                "schedule": [{"start": begin.isoformat(), "end": end.isoformat(),
                              "departure": "苏州", "destination": destination,
                              "transportation": "高铁"}],
                "reason": purpose}},
            {"id": "widget_purpose", "type": "textarea", "value": purpose},
        ]  # fmt: skip
        data = await self._v4(
            "POST", "/instances",
            params={"user_id_type": "user_id"},
            json={"approval_code": approval_code, "user_id": user_id,
                  "form": json.dumps(form, ensure_ascii=False), "uuid": uuid},
        )  # fmt: skip
        code: str = data["instance_code"]
        return code

    async def detail(self, instance_code: str) -> dict[str, Any]:
        """Return an instance's detail."""
        return await self._v4(
            "GET", f"/instances/{instance_code}", params={"user_id_type": "user_id"}
        )

    async def approve(self, approval_code: str, instance_code: str) -> None:
        """Approve the pending task of an instance as its assigned approver."""
        detail = await self.detail(instance_code)
        task = next(t for t in detail["task_list"] if t.get("status") == "PENDING")
        await self._v4(
            "POST", "/tasks/approve",
            params={"user_id_type": "user_id"},
            json={"approval_code": approval_code, "instance_code": instance_code,
                  "user_id": task["user_id"], "task_id": task["id"], "comment": "同意"},
        )  # fmt: skip

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.http.aclose()
