"""R3's OA part: the OA fails four ways right after trips are approved, while orders flow.

The OA's event push is hooked to a worker for the part (as `make demo` does), and trips are
filed and approved just before each window: the approval events reach the worker at once, and
the details and directory reads they need meet the failing OA. Counted from the ERP's
own records: every approved trip ends as one business trip (`hr.leave` by `x_external_ref`)
after recovery, none created twice; from Kafka: orders placed in the CRM during the window
still reach `cmd.erp.sales-order` (the stages that do not call the OA keep flowing).
"""

import asyncio
import contextlib
import time
import uuid
from collections import Counter
from datetime import date, timedelta

import httpx

from bizbus.deploy.chaos import verify
from bizbus.deploy.chaos.faults import system_fault
from bizbus.deploy.chaos.orders import OrderDesk
from bizbus.deploy.chaos.report import ScenarioResult
from bizbus.deploy.chaos.stack import ChaosStack, ChaosTimeout, Progress
from bizbus.deploy.demo.actors import OaUser
from bizbus.deploy.sandbox.company import employee
from bizbus.deploy.sandbox.oa.seed import TRAVEL_APPROVAL_CODE
from bizbus.flows.travel.webhooks import FEISHU_WEBHOOK_PATH

__all__ = ["TripCounts", "TripDesk", "oa_outages"]

TRAVELLER = employee("E1003")
_TRIP_DAYS = 2


class TripDesk:
    """One employee filing trips that never overlap (the ERP refuses overlapping time off)."""

    def __init__(self, oa_url: str) -> None:
        self.oa = OaUser(oa_url)
        self.first = date.today() + timedelta(days=400)  # noqa: DTZ011 - a calendar date
        self.filed: list[str] = []

    async def file_and_approve(self, count: int) -> list[str]:
        """File `count` trips and approve each; return their instance codes."""
        codes = []
        for _ in range(count):
            start = self.first + timedelta(days=(_TRIP_DAYS + 1) * len(self.filed))
            code = await self.oa.file_trip(
                TRAVEL_APPROVAL_CODE, TRAVELLER.oa_user_id, destination="上海", start=start,
                days=_TRIP_DAYS, purpose="拜访客户 (chaos R3)", uuid=str(uuid.uuid4()),
            )  # fmt: skip
            await self.oa.approve(TRAVEL_APPROVAL_CODE, code)
            self.filed.append(code)
            codes.append(code)
        return codes

    async def close(self) -> None:
        """Close the OA client."""
        await self.oa.aclose()


class TripCounts:
    """What the ERP holds of a set of approved trips (its effects log: creates per ref)."""

    def __init__(self, creates: Counter[str], wanted: set[str]) -> None:
        self.created = len(creates)
        self.lost = len(wanted - set(creates))
        self.duplicated = sum(n - 1 for n in creates.values())


async def trip_counts(erp_url: str, codes: list[str]) -> TripCounts:
    """Count the ERP's `hr.leave` creates per OA instance code."""
    wanted = set(codes)
    creates = Counter(
        row["key"]
        for row in await verify.effects(erp_url, "hr.leave")
        if row["action"] == "create" and row["key"] in wanted
    )
    return TripCounts(creates, wanted)


async def oa_outages(
    stack: ChaosStack, desk: OrderDesk, window_s: float, per_s: float, *,
    kinds: tuple[str, ...], result: ScenarioResult, label: str, progress: Progress,
) -> tuple[int, list[str]]:  # fmt: skip
    """Fail the OA each way in turn; record counts and figures; return the trips and orders.

    The orders placed during the windows are returned for the caller to settle in the ERP.
    """
    trips = TripDesk(stack.urls["oa"])
    erp = stack.urls["erp"]
    hook = await _hook_push(stack.urls["oa"], stack.running()[0].url + FEISHU_WEBHOOK_PATH)
    per_window = max(2, int(per_s * window_s / 4))
    orders: list[str] = []
    stalled = 0
    try:
        for kind in kinds:
            codes = await trips.file_and_approve(per_window)
            progress(f"R3: OA {kind} for {window_s:.0f} s right after {len(codes)} approvals")
            began, wall = time.monotonic(), time.time()
            async with system_fault(stack, "oa", kind, window_s):
                placed = await desk.place(per_window, per_s=per_s)
                await asyncio.sleep(max(0.0, began + window_s - time.monotonic()))
                commands = await verify.read_records(
                    stack.kafka, [stack.topic("cmd.erp.sales-order")]
                )
                during = await trip_counts(erp, codes)
            orders += placed
            stalled += not [r for r in commands if r.timestamp >= wall * 1000
                            and (r.key or b"").decode() in placed]  # fmt: skip
            result.figures[f"{label}OA {kind}: trips in ERP during outage"] = (
                f"{during.created}/{len(codes)}"
            )
        recovered = time.monotonic()

        async def all_recorded() -> bool:
            counts = await trip_counts(erp, trips.filed)
            progress(f"R3 after the OA outages: {counts.created}/{len(trips.filed)} trips in ERP")
            return counts.created == len(trips.filed)

        with contextlib.suppress(ChaosTimeout):
            await stack.wait_for(all_recorded, what="every approved trip in the ERP",
                                 timeout_s=180 + len(trips.filed), interval_s=2)  # fmt: skip
        counts = await trip_counts(erp, trips.filed)
        result.zeros[f"{label}OA trips lost"] = counts.lost
        result.zeros[f"{label}OA trips duplicated"] = counts.duplicated
        result.zeros[f"{label}OA windows where order stages stalled"] = stalled
        if not counts.lost:
            result.figures[f"{label}OA back → all trips in ERP s"] = round(
                time.monotonic() - recovered, 1
            )
        return len(trips.filed), orders
    finally:
        await trips.close()
        await _unhook_push(stack.urls["oa"], hook)


async def _hook_push(oa_url: str, webhook_url: str) -> int:
    """Have the OA push its approval events to `webhook_url`; return the callback's id."""
    async with httpx.AsyncClient(base_url=oa_url, timeout=30) as http:
        answer = await http.post("/_sandbox/callbacks", json={"url": webhook_url})
    if not answer.is_success:
        raise RuntimeError(f"the OA could not verify the worker's webhook: {answer.text}")
    return int(answer.json()["id"])


async def _unhook_push(oa_url: str, callback_id: int) -> None:
    async with httpx.AsyncClient(base_url=oa_url, timeout=30) as http:
        (await http.delete("/_sandbox/callbacks", params={"id": callback_id})).raise_for_status()
