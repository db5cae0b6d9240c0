"""DingTalkConnector against the sandbox DingTalk over real sockets.

Token, instances, people, catch-up, DingTalk's error codes and injected faults.
"""

from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest

from bizbus.connectors.base import Cursor, SourceRecord
from bizbus.connectors.dingtalk import DingTalkConnector, DingTalkRejected, DingTalkSettings
from bizbus.connectors.errors import AuthError, MappingError, RateLimited
from bizbus.connectors.retry import RetryPolicy
from bizbus.connectors.settings import load_settings
from bizbus.deploy.sandbox.company import employee
from bizbus.deploy.sandbox.dingtalk.seed import (
    PURCHASE_PROCESS_CODE,
    TRAVEL_PROCESS_CODE,
    userid_of,
)
from bizbus.deploy.sandbox.dingtalk.staff import DingTalkStaff, trip_form
from bizbus.deploy.sandbox.registry import SYSTEMS

CREDENTIALS = SYSTEMS["dingtalk"].credentials
APPLICANT = employee("E1005")  # 陈静, whose manager is 刘洋 (E1004)


def settings(url: str, **values: Any) -> DingTalkSettings:
    return load_settings(
        DingTalkSettings,
        **{"base_url": url, "legacy_base_url": url, "app_key": CREDENTIALS["app_key"],
           "app_secret": CREDENTIALS["app_secret"], "callback_token": CREDENTIALS["callback_token"],
           "aes_key": CREDENTIALS["aes_key"], "process_codes": TRAVEL_PROCESS_CODE, **values},
    )  # fmt: skip


async def faults(url: str, plan: dict[str, Any] | None) -> None:
    async with httpx.AsyncClient(base_url=url) as http:
        if plan is None:
            (await http.delete("/_sandbox/faults")).raise_for_status()
        else:
            (await http.post("/_sandbox/faults", json=plan)).raise_for_status()


async def test_a_filed_trip_reads_back_as_the_neutral_detail_and_trip(dingtalk_url: str) -> None:
    async with DingTalkConnector(settings(dingtalk_url)) as oa:
        await oa.ping()
        instance_id = await oa.start_instance(
            TRAVEL_PROCESS_CODE, userid_of(APPLICANT.number),
            trip_form("南京", date(2026, 12, 3), 2, "供应商审核"),
        )  # fmt: skip
        detail = await oa.fetch_detail(instance_id, TRAVEL_PROCESS_CODE)
        assert (detail.instance_code, detail.approval_code, detail.status) == (
            instance_id, TRAVEL_PROCESS_CODE, "PENDING",
        )  # fmt: skip
        trip = oa.trip_of(detail)
        assert trip.destinations == ("南京",) and trip.purpose == "供应商审核"
        assert (trip.departure_date, trip.return_date) == (date(2026, 12, 3), date(2026, 12, 4))
        assert trip.approvers == (userid_of(employee("E1004").number),)
        person = await oa.directory_user(userid_of(APPLICANT.number))
        assert (person["name"], person["employee_no"], person["email"]) == (
            APPLICANT.name, APPLICANT.number, APPLICANT.email,
        )  # fmt: skip
        with pytest.raises(MappingError, match="no user"):
            await oa.directory_user("nobody")
        with pytest.raises(DingTalkRejected) as unknown:
            await oa.get_instance("no-such-instance")
        assert unknown.value.code == "aflowProcessInstNotExist"


async def test_catch_up_reads_decided_trips_only_of_followed_forms(dingtalk_url: str) -> None:
    async with DingTalkStaff(dingtalk_url) as staff, DingTalkConnector(
        settings(dingtalk_url)
    ) as oa:  # fmt: skip
        approved = await staff.file_trip(
            userid_of(APPLICANT.number), destination="合肥", start=date(2026, 12, 5), days=1,
            purpose="培训",
        )  # fmt: skip
        await staff.decide(approved)
        refused = await staff.file_trip(
            userid_of(APPLICANT.number), destination="武汉", start=date(2026, 12, 6), days=1,
            purpose="展会",
        )  # fmt: skip
        await staff.decide(refused, agree=False)
        await oa.start_instance(
            PURCHASE_PROCESS_CODE, userid_of(APPLICANT.number),
            [{"name": "采购物品", "value": "刀柄"}, {"name": "金额", "value": "1200"},
             {"name": "采购事由", "value": "备件"}],
        )  # fmt: skip
        records: list[SourceRecord] = [r async for r in oa.changes("approval_instance", None)]
    by_id = {record.id: record for record in records}
    assert by_id[approved].payload["status"] == "APPROVED"
    assert by_id[refused].payload["status"] == "REJECTED"
    assert {r.payload["approval_code"] for r in records} == {TRAVEL_PROCESS_CODE}
    assert [r.cursor for r in records] == sorted(r.cursor for r in records)
    assert by_id[approved].payload["detail"]["processInstanceId"] == approved


async def test_a_wrong_secret_is_an_auth_error_naming_the_settings(dingtalk_url: str) -> None:
    async with DingTalkConnector(settings(dingtalk_url, app_secret="wrong")) as oa:  # noqa: S106
        with pytest.raises(AuthError, match="BIZBUS_OA_APP_SECRET"):
            await oa.ping()


async def test_throttling_and_server_errors_are_retried_then_raised(dingtalk_url: str) -> None:
    fast = RetryPolicy(attempts=3, initial=0.01, max_backoff=0.05, jitter=0)
    async with DingTalkConnector(settings(dingtalk_url), retry=fast) as oa:
        await oa.ping()  # the token first
        await faults(dingtalk_url, {"script": [503, 429]})
        await oa.ping()  # two faults, then served
        await faults(dingtalk_url, {"rate_limit_rate": 1.0, "retry_after_s": 0})
        try:
            with pytest.raises(RateLimited):
                await oa.ping()
        finally:
            await faults(dingtalk_url, None)


async def test_an_instance_filed_twice_with_one_uuid_is_filed_once_and_its_decision_read(
    dingtalk_url: str,
) -> None:
    async with DingTalkStaff(dingtalk_url) as staff, DingTalkConnector(
        settings(dingtalk_url)
    ) as oa:  # fmt: skip
        form = trip_form("厦门", date(2026, 12, 8), 1, "验收")
        values = {item["name"]: item["value"] for item in form}
        first = await oa.create_instance(
            TRAVEL_PROCESS_CODE, userid_of(APPLICANT.number), values, uuid="u-1"
        )
        again = await oa.create_instance(
            TRAVEL_PROCESS_CODE, userid_of(APPLICANT.number), values, uuid="u-1"
        )
        assert first == again
        await staff.decide(first, agree=False, remark="预算不足")
        async with httpx.AsyncClient(base_url=dingtalk_url) as http:
            effects = (await http.get("/_sandbox/effects?object=process_instance")).json()
        created = [e for e in effects["effects"] if e["record_id"] == first]
        assert [e["action"] for e in created] == ["create", "refuse"]
        record = SourceRecord(
            entity="approval_instance", id=first, cursor=Cursor(datetime.now(UTC), first),
            payload={"processCode": TRAVEL_PROCESS_CODE}, modified_at=datetime.now(UTC),
        )  # fmt: skip
        detail, decided = await oa.decision(record)
    assert detail.instance_code == first
    assert (decided.status, decided.comment) == ("REJECTED", "预算不足")
    assert decided.decided_at is not None
