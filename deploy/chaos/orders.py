"""Orders placed in the CRM by a salesperson, as the load every scenario runs under.

The salesperson logs in with their own password (so bizbus does not take their orders for its
echoes) and places activated one-line orders for a customer the ERP already has, several at a
time. Which orders were placed, and when, is kept for the verifier.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from bizbus.deploy.chaos import verify
from bizbus.deploy.chaos.stack import ChaosStack, ChaosTimeout, Progress
from bizbus.deploy.demo.actors import CrmUser, ErpUser
from bizbus.deploy.sandbox.company import employee

__all__ = ["OrderDesk", "settle_in_erp"]

MODEL = ("HL-BS-40", 1, Decimal("2300"))
SALESPERSON = employee("E1001")

Waiter = Callable[..., Awaitable[Any]]


class OrderDesk:
    """A salesperson placing orders for one customer the ERP knows."""

    def __init__(self, crm_url: str, erp_url: str) -> None:
        self.crm = CrmUser(crm_url, SALESPERSON.email)
        self.erp = ErpUser(erp_url)
        self.account_id = ""
        self.placed: dict[str, float] = {}  # CRM order id → time.monotonic() when activated

    async def open(self, wait_for: Waiter) -> "OrderDesk":
        """Log in and wait until the first CRM account is an ERP customer (customers flow)."""
        await self.crm.login()
        [row] = await self.crm.query(
            "SELECT Id, AccountNumber, ErpCustomerRef__c FROM Account ORDER BY AccountNumber "
            "LIMIT 1"
        )
        ref = row["ErpCustomerRef__c"] or row["AccountNumber"]

        async def partner() -> list[dict[str, Any]]:
            return await self.erp.search_read("res.partner", [("ref", "=", ref)], ["id"])

        await wait_for(partner, what=f"ERP customer {ref} (customers flow)")
        self.account_id = row["Id"]
        return self

    def placed_share(self, share: float, total: int) -> Callable[[], Awaitable[bool]]:
        """Return a probe: have `share` of `total` orders been placed yet (work in flight)?"""

        async def reached() -> bool:
            return len(self.placed) >= share * total

        return reached

    async def place(
        self, count: int, *, parallel: int = 4, per_s: float | None = None
    ) -> list[str]:
        """Place `count` orders, `parallel` at a time, at most `per_s` a second; return ids."""
        placed: list[str] = []
        started = time.monotonic()
        gate = asyncio.Semaphore(parallel)

        async def one(number: int) -> None:
            if per_s:
                await asyncio.sleep(max(0.0, started + number / per_s - time.monotonic()))
            async with gate:
                order_id = await self.crm.place_order(self.account_id, [MODEL])
            self.placed[order_id] = time.monotonic()
            placed.append(order_id)

        await asyncio.gather(*(one(n) for n in range(count)))
        return placed

    async def close(self, placing: "asyncio.Task[list[str]] | None" = None) -> None:
        """Stop placing (a scenario that broke off) and close the HTTP clients."""
        if placing is not None and not placing.done():
            placing.cancel()
            await asyncio.gather(placing, return_exceptions=True)
        await self.crm.aclose()
        await self.erp.aclose()


async def settle_in_erp(
    stack: ChaosStack, orders: list[str], *, label: str, progress: Progress, timeout_s: float
) -> verify.OrderCounts:
    """Wait until every order is in the stack's ERP, or the timeout; return the ERP's counts.

    A timeout is not raised: the counts then say what is missing (lost), which fails the run.
    """
    erp = stack.urls["erp"]

    async def all_created() -> bool:
        counts = await verify.order_counts(erp, orders)
        progress(f"{label}: {counts.created}/{len(orders)} orders in the ERP")
        return counts.created == len(orders)

    try:
        await stack.wait_for(all_created, what="every order in the ERP", timeout_s=timeout_s,
                             interval_s=2)  # fmt: skip
    except ChaosTimeout as timeout:
        progress(f"{label}: {timeout}")
    return await verify.order_counts(erp, orders)
