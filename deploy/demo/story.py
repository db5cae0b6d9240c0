"""The trade-show-to-delivery story, played through each system's own API and verified.

Each step acts as a person would (file a trip, enter leads, place an order, revise a product)
and then waits, with a deadline, until bizbus has produced the expected records in the other
systems, reading them back through those systems' APIs. A step that does not land raises
StepFailed naming what was missing.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from functools import partial
from typing import Any, TypeVar

import httpx

from bizbus.connectors.salesforce.soql import format_soql
from bizbus.deploy.demo.actors import CrmUser, ErpUser
from bizbus.deploy.demo.oa_desks import SALES_MANAGER, OaChoice, desk_for
from bizbus.deploy.sandbox.company import CUSTOMERS
from bizbus.deploy.watch import wait_quiet
from bizbus.flows.stock_visibility.mapping import AVAILABLE, INCOMING

T = TypeVar("T")
ORDERED_MODEL = "HL-VMC850"  # the deal's machine: its stock is shown, another one is cancelled
Status = Callable[[str], None]
DISCOUNT_PRICE = Decimal("228000")  # the model lists at 268,000 in the ERP: 14.9 % below


class StepFailedError(RuntimeError):
    """A step's expected records did not appear in time."""


@dataclass
class StepResult:
    """What one step did and what it produced in each system."""

    title: str
    records: dict[str, str] = field(default_factory=dict)
    latency_s: float = 0.0
    notes: list[str] = field(default_factory=list)


async def until(probe: Callable[[], Awaitable[T | None]], *, what: str, timeout_s: float = 90) -> T:
    """Poll `probe` until it returns something truthy, or fail naming `what`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = await probe()
        if found:
            return found
        await asyncio.sleep(0.25)
    raise StepFailedError(f"{what} did not appear within {timeout_s:.0f} s")


class Story:
    """The scenario of DESIGN §1 against running sandboxes and a worker."""

    def __init__(
        self,
        urls: dict[str, str],
        worker_url: str,
        *,
        orders: int = 1,
        status: Status,
        erp_hook: str = "",
        oa: OaChoice = "feishu",
    ) -> None:
        self.urls = urls
        self.worker_url = worker_url
        self.erp_hook = erp_hook  # the worker's Odoo webhook URL (token included) when on push
        self.orders = max(1, orders)
        self.status = status
        self.salesperson = SALES_MANAGER
        self.crm = CrmUser(urls["crm"], self.salesperson.email)
        self.erp = ErpUser(urls["erp"])
        self.oa = desk_for(oa, urls)
        self.account_id = ""
        self.order_id = ""

    async def _erp_quiet(self, model: str, feed: str) -> None:
        """Wait until the ERP feed of `model` polled after now (on push: hinted), all handled."""
        if not self.erp_hook:
            await wait_quiet(self.worker_url, system="erp")
            return

        async def hint() -> None:  # what the ERP's automation rule sends on a save
            async with httpx.AsyncClient(timeout=10) as http:
                body = {"_action": "demo check(#0)", "_id": 1, "_model": model}
                (await http.post(self.erp_hook, json=body)).raise_for_status()

        await wait_quiet(self.worker_url, system="erp", polls=1, feeds=[feed], poke=hint)

    async def close(self) -> None:
        """Close every client."""
        for actor in (self.crm, self.erp, self.oa):
            await actor.aclose()

    def steps(self) -> list[tuple[str, Callable[[], Awaitable[StepResult]]]]:
        """Return the steps in story order."""
        return [
            ("Travel request approved in OA → business trip in ERP HR", self.travel),
            ("Trade-show leads in CRM; one becomes a customer → ERP customer", self.leads),
            ("Order placed in CRM → ERP sales order, number written back", self.order),
            ("ERP produces, ships, invoices → CRM order status follows", self.fulfilment),
            ("Product revised and repriced in ERP → CRM product and price book", self.catalog),
            ("CRM-owned product text edited in CRM → ERP, no echo back", self.crm_edit),
            ("Stock of the ordered model counted in ERP → CRM product availability", self.stock),
            ("Discount beyond the salesperson's limit approved in OA → ERP order", self.discount),
            ("Order quantity changed in CRM before production → ERP order follows", self.change),
            ("Order cancelled in CRM before production → ERP order cancelled", self.cancel),
        ]

    async def travel(self) -> StepResult:
        """File and approve a trip to the trade show; the ERP records the business trip."""
        start = date.today() + timedelta(days=7)  # noqa: DTZ011 - a calendar date for the form
        code = await self.oa.file_trip(
            self.salesperson, destination="深圳", start=start, days=3,
            purpose="参加深圳国际机床展览会 (CIMES), 拜访华南客户",
        )  # fmt: skip
        began = time.monotonic()
        await self.oa.approve_trip(code)
        self.status(f"trip {code} approved; waiting for the ERP business trip")

        async def leave() -> dict[str, Any] | None:
            rows = await self.erp.search_read(
                "hr.leave", [("x_external_ref", "=", code)],
                ["id", "state", "employee_id", "request_date_from", "request_date_to",
                 "x_destination"],
            )  # fmt: skip
            return rows[0] if rows and rows[0]["state"] != "refuse" else None

        row = await until(leave, what=f"an ERP business trip for OA instance {code}")
        result = StepResult("travel", {"OA instance": code, "ERP hr.leave": str(row["id"])})
        result.latency_s = time.monotonic() - began
        employee_name = row["employee_id"][1] if row["employee_id"] else "?"
        if employee_name != self.salesperson.name or row["request_date_from"] != str(start):
            raise StepFailedError(f"the ERP trip has the wrong employee or dates: {row}")
        result.notes.append(f"{employee_name} → {row['x_destination']}, from {start}, 3 days")
        return result

    async def leads(self) -> StepResult:
        """Enter business cards as leads and convert one into an account."""
        await self.crm.login()
        companies = ["苏州瑞精数控设备有限公司", "无锡华成精密模具有限公司", "常州天目机电有限公司"]
        leads = [
            await self.crm.create("Lead", {
                "LastName": last, "FirstName": first, "Company": company,
                "Email": f"{pinyin}@example.cn", "Phone": f"+86 512 6{index:03d} 8800",
                "Status": "Open - Not Contacted", "LeadSource": "Trade Show",
            })
            for index, (last, first, pinyin, company) in enumerate(
                zip(["周", "吴", "郑"], ["建华", "晓燕", "国强"], ["zhou.jh", "wu.xy", "zheng.gq"],
                    companies, strict=True)
            )
        ]  # fmt: skip
        began = time.monotonic()
        self.account_id = await self.crm.create(
            "Account", {"Name": companies[0], "BillingCity": "苏州", "Phone": "+86 512 6000 8800"}
        )
        await self.crm.update(
            "Lead", leads[0],
            {"IsConverted": True, "ConvertedAccountId": self.account_id,
             "Status": "Closed - Converted"},
        )  # fmt: skip
        self.status("account created; waiting for the ERP customer")

        async def partner() -> dict[str, Any] | None:
            rows = await self.erp.search_read(
                "res.partner", [("name", "=", companies[0])], ["id", "ref"]
            )
            return rows[0] if rows and rows[0]["ref"] else None

        row = await until(partner, what=f"an ERP customer for {companies[0]}")
        result = StepResult(
            "customer",
            {"CRM leads": str(len(leads)), "CRM Account": self.account_id,
             "ERP res.partner": f"{row['id']} (ref {row['ref']})"},
        )  # fmt: skip
        result.latency_s = time.monotonic() - began
        return result

    async def order(self) -> StepResult:
        """Place and activate the deal's order (and more orders with `--orders`)."""
        began = time.monotonic()
        self.order_id = await self.crm.place_order(
            self.account_id,
            [(ORDERED_MODEL, 1, Decimal("255000")), ("HL-SVC-INST", 3, Decimal("1800"))],
        )
        extra = []
        for index in range(self.orders - 1):
            customer = CUSTOMERS[index % len(CUSTOMERS)]
            rows = await self.crm.query(
                format_soql("SELECT Id FROM Account WHERE AccountNumber = {n}", n=customer.number)
            )
            extra.append(
                await self.crm.place_order(rows[0]["Id"], [("HL-BS-40", 4, Decimal("2300"))])
            )
        self.status(f"order {self.order_id} activated; waiting for the ERP sales order")

        async def sale_order(order_id: str) -> dict[str, Any] | None:
            rows = await self.erp.search_read(
                "sale.order", [("client_order_ref", "=", order_id)], ["id", "name", "state"]
            )
            return rows[0] if rows and rows[0]["state"] == "sale" else None

        row = await until(lambda: sale_order(self.order_id), what="the ERP sales order")

        async def written_back() -> str | None:
            ref: str | None = (await self.crm.get("Order", self.order_id)).get("ErpOrderRef__c")
            return ref

        ref = await until(written_back, what="the ERP order number on the CRM order")
        for index, order_id in enumerate(extra, start=2):
            self.status(f"waiting for extra order {index}/{self.orders} in the ERP")
            await until(partial(sale_order, order_id), what=f"ERP order for {order_id}")
        result = StepResult("order", {"CRM Order": self.order_id, "ERP sale.order": row["name"]})
        result.latency_s = time.monotonic() - began
        result.notes.append(f"ErpOrderRef__c = {ref}; {self.orders} order(s) confirmed in the ERP")
        return result

    async def fulfilment(self) -> StepResult:
        """Watch the CRM order's status follow the ERP's production, delivery and invoice."""
        began = time.monotonic()
        seen: list[tuple[str, float]] = []

        async def invoiced() -> bool:
            value = (await self.crm.get("Order", self.order_id)).get("ErpStatus__c")
            if value and (not seen or seen[-1][0] != value):
                seen.append((value, time.monotonic() - began))
                self.status(f"CRM order status: {value}")
            return value == "Invoiced"

        await until(invoiced, what="status Invoiced on the CRM order", timeout_s=120)
        order = [name for name, _ in seen]
        ranks = ["Confirmed", "InProduction", "Shipped", "Invoiced"]
        if [ranks.index(s) for s in order if s in ranks] != sorted(
            ranks.index(s) for s in order if s in ranks
        ):
            raise StepFailedError(f"the CRM status moved backwards: {order}")
        result = StepResult("fulfilment", {"CRM Order": self.order_id})
        result.latency_s = time.monotonic() - began
        result.notes.append(" → ".join(f"{name} (+{at:.1f} s)" for name, at in seen))
        return result

    async def catalog(self) -> StepResult:
        """Revise and reprice a product model in the ERP; the CRM price book follows."""
        entry = await self.crm.price_entry("HL-CK6150")
        draft = await self.crm.place_order(
            self.account_id, [("HL-CK6150", 2, Decimal(str(entry["UnitPrice"])))], activate=False
        )
        template = (await self.erp.search_read(
            "product.template", [("default_code", "=", "HL-CK6150")], ["id"]
        ))[0]["id"]  # fmt: skip
        began = time.monotonic()
        await self.erp.execute(
            "product.template",
            "write",
            [template],
            {"list_price": 132000.0, "x_model_revision": "C"},
        )
        self.status("ERP price changed; waiting for the CRM price book")

        async def repriced() -> bool:
            current = await self.crm.price_entry("HL-CK6150")
            return float(current["UnitPrice"]) == 132000.0

        await until(repriced, what="the new list price in the CRM price book")

        async def revised() -> bool:
            rows = await self.crm.query(
                "SELECT ModelRevision__c FROM Product2 WHERE ProductCode = 'HL-CK6150'"
            )
            return bool(rows) and rows[0]["ModelRevision__c"] == "C"

        await until(revised, what="revision C on the CRM product")

        async def flagged() -> bool:
            return bool((await self.crm.get("Order", draft)).get("PriceReviewNeeded__c"))

        await until(flagged, what="the price-review flag on the open order")
        result = StepResult(
            "catalog", {"ERP product.template": str(template), "CRM PricebookEntry": entry["Id"]}
        )
        result.latency_s = time.monotonic() - began
        result.notes.append(f"128000 → 132000 CNY, revision B → C; open order {draft} flagged")
        return result

    async def crm_edit(self) -> StepResult:
        """Edit the CRM-owned marketing text; the ERP follows and nothing echoes back."""
        product = (await self.crm.query(
            "SELECT Id FROM Product2 WHERE ProductCode = 'HL-CK6150'"
        ))[0]["Id"]  # fmt: skip
        async with httpx.AsyncClient(base_url=self.urls["crm"], timeout=10) as control:
            mark = len((await control.get("/_sandbox/effects")).json()["effects"])
            text = "CK6150 数控车床: 展会特惠, 含两天安装调试"
            began = time.monotonic()
            await self.crm.update("Product2", product, {"Description": text})
            self.status("CRM description edited; waiting for the ERP")

            async def followed() -> bool:
                rows = await self.erp.search_read(
                    "product.template", [("default_code", "=", "HL-CK6150")], ["description_sale"]
                )
                return bool(rows) and rows[0]["description_sale"] == text

            await until(followed, what="the CRM description on the ERP product")
            latency = time.monotonic() - began
            try:  # an echo would come from the ERP's feeds: give them time to make it
                await self._erp_quiet("product.template", "erp.product")
            except TimeoutError as error:
                raise StepFailedError(str(error)) from error
            effects = (await control.get("/_sandbox/effects")).json()["effects"][mark:]
        echoes = [e for e in effects if e["object"] == "Product2" and e["client"] == "bizbus"]
        if echoes:
            raise StepFailedError(f"bizbus wrote the product back to the CRM {len(echoes)} time(s)")
        result = StepResult("crm edit", {"CRM Product2": product})
        result.latency_s = latency
        result.notes.append("ERP description_sale updated; 0 writes echoed back to the CRM")
        return result

    async def stock(self) -> StepResult:
        """Count the ordered model's stock in the ERP; the CRM product shows what is free."""
        [product] = await self.erp.search_read(
            "product.product", [("default_code", "=", ORDERED_MODEL)], ["id", "qty_available"]
        )
        [location] = await self.erp.search_read(
            "stock.location", [("complete_name", "=", "WH/Stock")], ["id"]
        )
        where = [("product_id", "=", product["id"]), ("location_id", "=", location["id"])]
        quants = await self.erp.search_read("stock.quant", where, ["id", "quantity"])
        quant = quants[0]["id"] if quants else await self.erp.execute(
            "stock.quant", "create", {"product_id": product["id"], "location_id": location["id"]}
        )  # fmt: skip
        counted = (quants[0]["quantity"] if quants else 0.0) + 5.0  # a new batch on the shelf
        began = time.monotonic()
        # An inventory adjustment, as the warehouse keeper does it: count, then apply.
        await self.erp.execute("stock.quant", "write", [quant], {"inventory_quantity": counted})
        await self.erp.execute("stock.quant", "action_apply_inventory", [quant])
        [level] = await self.erp.search_read(
            "product.product", [("id", "=", product["id"])], ["free_qty", "incoming_qty"]
        )
        self.status(f"ERP stock of {ORDERED_MODEL} counted; waiting for the CRM product")

        async def shown() -> dict[str, Any] | None:
            rows = await self.crm.query(format_soql(
                "SELECT Id, Available_Quantity__c, Incoming_Quantity__c, "
                "Next_Availability_Date__c FROM Product2 WHERE ProductCode = {code}",
                code=ORDERED_MODEL))  # fmt: skip
            return rows[0] if rows and rows[0].get(AVAILABLE) == level["free_qty"] else None

        row = await until(shown, what=f"{level['free_qty']:g} available on the CRM product")
        result = StepResult("stock", {"ERP stock.quant": str(quant), "CRM Product2": row["Id"]})
        result.latency_s = time.monotonic() - began
        result.notes.append(
            f"{ORDERED_MODEL}: {product['qty_available']:g} → {counted:g} on hand in the ERP; "
            f"CRM {AVAILABLE} = {row[AVAILABLE]:g}, {INCOMING} = {row.get(INCOMING) or 0:g}"
        )
        return result

    async def _erp_clock(self, *, held: bool) -> None:
        """Hold (or release) the sandbox ERP's clock, so its production waits for nobody."""
        async with httpx.AsyncClient(base_url=self.urls["erp"], timeout=10) as control:
            (await control.post("/_sandbox/clock", json={"manual": held})).raise_for_status()

    async def discount(self) -> StepResult:
        """Sell the model 14.9 % below list; the order waits for the OA's approval, then goes."""
        order_id = await self.crm.place_order(self.account_id, [(ORDERED_MODEL, 1, DISCOUNT_PRICE)])
        self.status(f"order {order_id} at {DISCOUNT_PRICE:,} activated; waiting for the OA")
        code = await until(
            partial(self.oa.discount_instance, order_id), what=f"an OA approval of {order_id}"
        )
        if await self._erp_order(order_id) is not None:
            raise StepFailedError(f"order {order_id} reached the ERP before its approval")
        began = time.monotonic()
        await self.oa.approve_discount(code)
        self.status(f"OA instance {code} approved; waiting for the ERP sales order")
        confirmed = await until(
            partial(self._erp_order, order_id, "sale"), what=f"ERP order for {order_id}"
        )
        result = StepResult(
            "discount",
            {"OA instance": code, "CRM Order": order_id, "ERP sale.order": confirmed["name"]},
        )
        result.latency_s = time.monotonic() - began
        result.notes.append(
            f"{ORDERED_MODEL} at {DISCOUNT_PRICE:,} (list 268,000, limit 10 %): held until the "
            "OA approved, then placed once"
        )
        return result

    async def change(self) -> StepResult:
        """Place another order, raise its quantity in the CRM before production; the ERP follows.

        The ERP's clock is held meanwhile (as for the cancellation), so the change always lands
        on an unmade order, which the ERP still allows.
        """
        await self._erp_clock(held=True)
        try:
            return await self._change()
        finally:
            await self._erp_clock(held=False)

    async def cancel(self) -> StepResult:
        """Place another order, cancel it in the CRM before production; the ERP cancels it.

        The sandbox ERP starts production a few seconds after it confirms an order; its clock is
        held while the cancellation travels, so the cancel always lands on an unmade order.
        """
        await self._erp_clock(held=True)
        try:
            return await self._cancel()
        finally:
            await self._erp_clock(held=False)

    async def _erp_order(self, order_id: str, state: str | None = None) -> dict[str, Any] | None:
        fields = ["id", "name", "state", "order_line"]
        where = [("client_order_ref", "=", order_id)]
        rows = await self.erp.search_read("sale.order", where, fields)
        return rows[0] if rows and (state is None or rows[0]["state"] == state) else None

    async def _sent_order(self, quantity: int) -> tuple[str, dict[str, Any]]:
        """Place and activate an order of the model; wait until the ERP confirmed it, numbered."""
        order_id = await self.crm.place_order(
            self.account_id, [(ORDERED_MODEL, quantity, Decimal("255000"))]
        )
        self.status(f"order {order_id} activated; waiting for the ERP to confirm it")
        confirmed = await until(
            partial(self._erp_order, order_id, "sale"), what=f"ERP order for {order_id}"
        )

        async def written_back() -> bool:
            return bool((await self.crm.get("Order", order_id)).get("ErpOrderRef__c"))

        await until(written_back, what="the ERP order number on the CRM order")
        return order_id, confirmed

    async def _line_writes(self, line_id: int) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=self.urls["erp"], timeout=10) as control:
            response = await control.get("/_sandbox/effects", params={"object": "sale.order.line"})
            response.raise_for_status()
        rows: list[dict[str, Any]] = response.json()["effects"]
        return [e for e in rows if e["record_id"] == str(line_id) and e["action"] == "write"]

    async def _change(self) -> StepResult:
        order_id, confirmed = await self._sent_order(1)
        [line_id] = confirmed["order_line"]
        before = len(await self._line_writes(line_id))
        [item] = await self.crm.query(
            format_soql("SELECT Id FROM OrderItem WHERE OrderId = {o}", o=order_id)
        )
        began = time.monotonic()
        await self.crm.update("OrderItem", item["Id"], {"Quantity": 2})
        self.status(f"CRM order {order_id}: quantity 1 → 2; waiting for the ERP")

        async def line_of_two() -> bool:
            [line] = await self.erp.search_read(
                "sale.order.line", [("id", "=", line_id)], ["product_uom_qty"]
            )
            return float(line["product_uom_qty"]) == 2.0

        await until(line_of_two, what=f"quantity 2 on ERP order {confirmed['name']}")
        latency = time.monotonic() - began
        writes = (await self._line_writes(line_id))[before:]
        if len(writes) != 1:
            raise StepFailedError(f"the ERP order line was written {len(writes)} times, not once")
        note = (await self.crm.get("Order", order_id)).get("IntegrationNote__c")
        if note:
            raise StepFailedError(f"the change was refused: {note}")
        result = StepResult("change", {"CRM Order": order_id, "ERP sale.order": confirmed["name"]})
        result.latency_s = latency
        result.notes.append(
            f"ERP {confirmed['name']}: quantity of {ORDERED_MODEL} 1 → 2, one line write"
        )
        return result

    async def _cancel(self) -> StepResult:
        order_id, confirmed = await self._sent_order(1)
        began = time.monotonic()
        await self.crm.update("Order", order_id, {"Status": "Cancelled"})
        self.status(f"CRM order {order_id} cancelled; waiting for the ERP")
        await until(
            partial(self._erp_order, order_id, "cancel"),
            what=f"ERP order {confirmed['name']} cancelled",
        )
        latency = time.monotonic() - began

        async def crm_cancelled() -> dict[str, Any] | None:
            order = await self.crm.get("Order", order_id)
            done = (order.get("Status"), order.get("ErpStatus__c")) == ("Cancelled", "Cancelled")
            return order if done else None

        order = await until(crm_cancelled, what="status Cancelled on the CRM order")
        if order.get("IntegrationNote__c"):
            raise StepFailedError(f"the cancellation was refused: {order['IntegrationNote__c']}")
        result = StepResult(
            "cancellation", {"CRM Order": order_id, "ERP sale.order": confirmed["name"]}
        )
        result.latency_s = latency
        result.notes.append(
            f"ERP {confirmed['name']}: sale → cancel; CRM Status and ErpStatus__c = Cancelled"
        )
        return result
