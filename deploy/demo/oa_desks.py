"""The demo's people in the OA, on Feishu or on DingTalk: file trips, find and approve requests.

`bizbus demo --oa dingtalk` plays the same story with the DingTalk sandbox as the OA; the flows
are unchanged (`BIZBUS_OA_DIALECT=dingtalk` comes from the sandbox wiring). Each desk knows its
sandbox, the worker's callback page for it, the discount approval definition it files under
and the settings that turn discount approvals on.
"""

import json
import uuid
from datetime import date
from typing import Any, Literal, Protocol

import httpx

from bizbus.deploy.demo.actors import OaUser
from bizbus.deploy.sandbox.company import Employee, employee
from bizbus.deploy.sandbox.dingtalk.seed import DISCOUNT_PROCESS_CODE, userid_of
from bizbus.deploy.sandbox.dingtalk.staff import DingTalkStaff
from bizbus.deploy.sandbox.oa.seed import DISCOUNT_APPROVAL_CODE, TRAVEL_APPROVAL_CODE

__all__ = ["DESKS", "OA_CHOICES", "DingTalkDesk", "FeishuDesk", "OaChoice", "OaDesk", "desk_for"]

OaChoice = Literal["feishu", "dingtalk"]
OA_CHOICES: tuple[OaChoice, ...] = ("feishu", "dingtalk")
SALES_MANAGER = employee("E1001")  # 张伟, 销售经理: may sell 10 % below the ERP's list price
_LIMITS = json.dumps({"销售经理": 10, "销售代表": 5}, ensure_ascii=False)


class OaDesk(Protocol):
    """What the story does in the OA, whichever product it is."""

    system: str  # the sandbox's name
    webhook_path: str  # the worker's callback page for this OA

    @staticmethod
    def worker_env() -> dict[str, str]:
        """Settings that turn discount approvals on, filed under the sales manager."""
        ...

    async def file_trip(
        self, traveller: Employee, *, destination: str, start: date, days: int, purpose: str
    ) -> str:
        """File a trip for `traveller`; return the instance's code."""
        ...

    async def approve_trip(self, code: str) -> None:
        """The approver agrees to a trip."""
        ...

    async def discount_instance(self, order_id: str) -> str | None:
        """The discount approval filed for a CRM order, from the OA's own records, or None."""
        ...

    async def approve_discount(self, code: str) -> None:
        """The sales manager's leader agrees to a discount."""
        ...

    async def aclose(self) -> None:
        """Close the HTTP clients."""
        ...


async def _created(url: str, obj: str) -> list[dict[str, Any]]:
    """The instances an OA sandbox created (its effects log)."""
    async with httpx.AsyncClient(base_url=url, timeout=10) as control:
        response = await control.get("/_sandbox/effects", params={"object": obj})
        response.raise_for_status()
    return [row for row in response.json()["effects"] if row["action"] == "create"]


class FeishuDesk:
    """Staff in Feishu approval v4 (the sandbox `oa`)."""

    system = "oa"
    webhook_path = "/webhooks/feishu"

    def __init__(self, url: str) -> None:
        self.url = url
        self.user = OaUser(url)

    @staticmethod
    def worker_env() -> dict[str, str]:
        """Discounts under the 折扣审批 definition, filed by the sales manager's user id."""
        return {
            "BIZBUS_OA_HANDLERS": json.dumps({DISCOUNT_APPROVAL_CODE: "discount"}),
            "BIZBUS_DISCOUNT_LIMITS": _LIMITS,
            "BIZBUS_DISCOUNT_DEFAULT_LIMIT": "5",
            "BIZBUS_DISCOUNT_APPLICANT": SALES_MANAGER.oa_user_id,
        }

    async def file_trip(
        self, traveller: Employee, *, destination: str, start: date, days: int, purpose: str
    ) -> str:
        """File a 出差申请 with a trip group."""
        return await self.user.file_trip(
            TRAVEL_APPROVAL_CODE, traveller.oa_user_id, destination=destination, start=start,
            days=days, purpose=purpose, uuid=str(uuid.uuid4()),
        )  # fmt: skip

    async def approve_trip(self, code: str) -> None:
        """Approve the pending task as its approver."""
        await self.user.approve(TRAVEL_APPROVAL_CODE, code)

    async def discount_instance(self, order_id: str) -> str | None:
        """The 折扣审批 instance whose form names the order."""
        for row in await _created(self.url, "approval_instance"):
            if row["detail"].get("approval_code") != DISCOUNT_APPROVAL_CODE:
                continue
            form = json.loads((await self.user.detail(row["record_id"]))["form"])
            if any(w.get("custom_id") == "crm_order_id" and w.get("value") == order_id
                   for w in form):  # fmt: skip
                return str(row["record_id"])
        return None

    async def approve_discount(self, code: str) -> None:
        """Approve the pending task as its approver."""
        await self.user.approve(DISCOUNT_APPROVAL_CODE, code)

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.user.aclose()


class DingTalkDesk:
    """Staff in DingTalk workflow 1.0 (the sandbox `dingtalk`)."""

    system = "dingtalk"
    webhook_path = "/webhooks/dingtalk"

    def __init__(self, url: str) -> None:
        self.url = url
        self.staff = DingTalkStaff(url)

    @staticmethod
    def worker_env() -> dict[str, str]:
        """Discounts under the 折扣审批 process, filed by the sales manager's userid."""
        return {
            "BIZBUS_OA_HANDLERS": json.dumps({DISCOUNT_PROCESS_CODE: "discount"}),
            "BIZBUS_DISCOUNT_LIMITS": _LIMITS,
            "BIZBUS_DISCOUNT_DEFAULT_LIMIT": "5",
            "BIZBUS_DISCOUNT_APPLICANT": userid_of(SALES_MANAGER.number),
        }

    async def file_trip(
        self, traveller: Employee, *, destination: str, start: date, days: int, purpose: str
    ) -> str:
        """File a 出差申请 with a 行程 table."""
        return await self.staff.file_trip(
            userid_of(traveller.number), destination=destination, start=start, days=days,
            purpose=purpose,
        )  # fmt: skip

    async def approve_trip(self, code: str) -> None:
        """The owner of the running task agrees."""
        await self.staff.decide(code)

    async def discount_instance(self, order_id: str) -> str | None:
        """The 折扣审批 instance whose form names the order (by business alias)."""
        for row in await _created(self.url, "process_instance"):
            if row["detail"].get("processCode") != DISCOUNT_PROCESS_CODE:
                continue
            values = (await self.staff.detail(row["record_id"]))["formComponentValues"]
            if any(v.get("bizAlias") == "crm_order_id" and v.get("value") == order_id
                   for v in values):  # fmt: skip
                return str(row["record_id"])
        return None

    async def approve_discount(self, code: str) -> None:
        """The owner of the running task agrees."""
        await self.staff.decide(code)

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.staff.aclose()


DESKS: dict[OaChoice, type[FeishuDesk] | type[DingTalkDesk]] = {
    "feishu": FeishuDesk, "dingtalk": DingTalkDesk,
}  # fmt: skip


def desk_for(choice: OaChoice, urls: dict[str, str]) -> OaDesk:
    """The desk of the chosen OA, at its sandbox's URL."""
    desk = DESKS[choice]
    return desk(urls[desk.system])
