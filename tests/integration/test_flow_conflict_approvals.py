"""Catalog conflicts to people: a CRM edit of the ERP-owned list price becomes one OA task.

One stack (CRM, ERP and OA sandboxes; a worker running `travel,catalog` with
`BIZBUS_CATALOG_CONFLICTS_TO=oa`, travel being the OA's source). A salesperson edits a list
price in the CRM; nothing is written until 王建国 decides the task 张伟 files: approved takes
the CRM value to the ERP, rejected writes the ERP's value back to the CRM. Our writes (client
`bizbus`) are counted in the sandboxes' effects logs.
"""

import json
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from bizbus.deploy.demo.actors import CrmUser, ErpUser, OaUser
from bizbus.deploy.sandbox.company import employee
from bizbus.deploy.sandbox.oa.seed import CONFLICT_APPROVAL_CODE
from bizbus.schemas import FieldConflictDecidedV1, FieldConflictDetectedV1
from tests.integration.flowstack import FlowStack
from tests.integration.test_flow_catalog import (
    CODE,
    OLD_PRICE,
    conflicts,
    erp_product,
    marks,
    our_writes,
    standard_entry,
)
from tests.integration.test_flow_discount_approvals import redeliver_all, reject
from tests.integration.test_flow_travel import control

APPLICANT = employee("E1001")  # 张伟 files; his leader 王建国 decides
CRM_PRICE = Decimal("120000")
FEEDS = ("erp.product", "crm.price-book-entry")
HANDLED = ("src.crm.price-book-entry", "src.erp.product", "biz.catalog.field-conflict",
           "cmd.oa.approval-instance", "src.oa.approval-instance")  # fmt: skip


@pytest.fixture(scope="module")
def stack(flow_stack_factory: Any) -> Iterator[FlowStack]:
    started: FlowStack = flow_stack_factory(
        flows="travel,catalog",
        systems=("crm", "erp", "oa"),
        sandbox_env={"BIZBUS_SANDBOX_OA_DELIVERY": '{"retry_base_s": 0.2}'},
        worker_env={
            "BIZBUS_OA_POLL_INTERVAL_S": "3600",  # decisions arrive by callback
            "BIZBUS_OA_HANDLERS": json.dumps({CONFLICT_APPROVAL_CODE: "conflict"}),
            "BIZBUS_CATALOG_CONFLICTS_TO": "oa",
            "BIZBUS_CATALOG_CONFLICT_APPLICANT": APPLICANT.oa_user_id,
        },
    )
    yield started


async def conflict_instances(stack: FlowStack) -> list[str]:
    rows = (await control(stack, "oa", "GET",
                          "/_sandbox/effects?object=approval_instance"))["effects"]  # fmt: skip
    return [row["record_id"] for row in rows
            if row["action"] == "create"
            and row["detail"]["approval_code"] == CONFLICT_APPROVAL_CODE]  # fmt: skip


async def crm_price(crm: CrmUser) -> Decimal:
    return Decimal(str((await standard_entry(crm))["UnitPrice"]))


async def ready(stack: FlowStack, crm: CrmUser) -> None:
    """The CRM has the ERP's price, the OA pushes to the worker, which subscribed."""

    async def synced() -> bool:
        try:
            return await crm_price(crm) == OLD_PRICE
        except LookupError:
            return False

    await stack.wait_for(synced, what=f"{CODE} with its ERP price in the CRM")
    await control(stack, "oa", "POST", "/_sandbox/callbacks",
                  json={"url": stack.worker_url + "/webhooks/feishu"})  # fmt: skip

    async def subscribed() -> bool:
        path = "/_sandbox/effects?object=approval_subscription"
        rows = (await control(stack, "oa", "GET", path))["effects"]
        return any(row["record_id"] == CONFLICT_APPROVAL_CODE for row in rows)

    await stack.wait_for(subscribed, what="the worker subscribing to the conflict approvals")


async def edited_in_crm(stack: FlowStack, crm: CrmUser, price: Decimal, known: int) -> str:
    """A CRM edit of the list price: one more OA task for it; returns its instance code."""
    entry = await standard_entry(crm)
    await crm.update("PricebookEntry", entry["Id"], {"UnitPrice": float(price)})

    async def filed() -> list[str] | None:
        codes = await conflict_instances(stack)
        return codes if len(codes) > known else None

    codes = await stack.wait_for(filed, what="an OA task for the price conflict")
    return codes[-1]


async def test_taking_the_crm_value_writes_it_to_the_erp_once(
    stack: FlowStack, crm: CrmUser, erp: ErpUser, oa: OaUser
) -> None:
    await ready(stack, crm)
    before = await marks(stack)
    code = await edited_in_crm(stack, crm, CRM_PRICE, 0)
    form = {w["custom_id"]: w["value"] for w in json.loads((await oa.detail(code))["form"])}
    assert (form["model"], form["field"]) == (CODE, "list_price")
    assert form["edited_value"] == "CRM: 120000.00" and form["owner_value"] == "ERP: 128000.00"
    # Redelivered, the request files nothing more; pending, nothing is written anywhere.
    await redeliver_all(stack, "cmd.oa.approval-instance")
    await stack.wait_for_polls(*FEEDS)
    await stack.wait_caught_up(*HANDLED)
    assert await conflict_instances(stack) == [code]
    assert await our_writes(stack, before) == {"crm": Counter(), "erp": Counter()}
    assert await crm_price(crm) == CRM_PRICE

    await oa.approve(CONFLICT_APPROVAL_CODE, code)

    async def taken() -> bool:
        return Decimal(str((await erp_product(erp))["list_price"])) == CRM_PRICE

    await stack.wait_for(taken, what="the CRM price in the ERP")
    await stack.wait_for_polls(*FEEDS)
    await stack.wait_caught_up(*HANDLED, "biz.pricing.price", "cmd.crm.price-book-entry")
    writes = await our_writes(stack, before)
    # One write of the price; the ERP's own rule closes the old pricelist item and opens one.
    on_erp = Counter({"product.template": 1, "product.pricelist.item": 2})
    assert writes == {"crm": Counter(), "erp": on_erp}, writes
    assert await crm_price(crm) == CRM_PRICE
    recorded: list[Any] = await conflicts(stack)
    assert [
        (c.resolution, c.edited_value) for c in recorded if isinstance(c, FieldConflictDetectedV1)
    ] == [("ask-people", "120000.00")]
    decided = [(c.resolution, c.oa_instance_code, c.comment) for c in recorded
               if isinstance(c, FieldConflictDecidedV1)]  # fmt: skip
    assert decided == [("accept-edit", code, "同意")]


async def test_keeping_the_erp_value_sets_the_crm_back_once(
    stack: FlowStack, crm: CrmUser, erp: ErpUser, oa: OaUser
) -> None:
    before = await marks(stack)
    code = await edited_in_crm(stack, crm, Decimal("99999"), 1)

    await reject(oa, code, "保持 ERP 价格", approval_code=CONFLICT_APPROVAL_CODE)

    async def restored() -> bool:
        return await crm_price(crm) == CRM_PRICE

    await stack.wait_for(restored, what="the ERP price back in the CRM")
    await stack.wait_for_polls(*FEEDS)
    await stack.wait_caught_up(*HANDLED)
    writes = await our_writes(stack, before)
    assert writes == {"crm": Counter({"PricebookEntry": 1}), "erp": Counter()}, writes
    assert Decimal(str((await erp_product(erp))["list_price"])) == CRM_PRICE
    assert len(await conflict_instances(stack)) == 2
