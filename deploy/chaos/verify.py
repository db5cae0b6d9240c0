"""Count from the systems' own records and from Kafka, never from the worker's word.

The sandboxes keep an effects log of every write (`GET /_sandbox/effects`) and a request log
(`GET /_sandbox/requests`); Kafka keeps every record the run produced. The scenarios' figures
(lost, duplicated, regressed, dead-lettered, published, leaked) are computed here from those.
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias

import httpx
from aiokafka import ConsumerRecord

from bizbus.flows.runtime.dlq_admin import list_dead_letter_topics
from bizbus.flows.runtime.kafka_config import KafkaTarget, admin_client
from bizbus.flows.runtime.trace import read_consumer_records
from bizbus.flows.shared import CRM_STATUS

__all__ = [
    "OrderCounts",
    "dead_letters",
    "effects",
    "order_counts",
    "read_records",
    "requests_since",
    "run_topics",
    "status_regressions",
]

Record: TypeAlias = "ConsumerRecord[bytes, bytes]"
# CRM status values in the order they move forward (several statuses share one value).
_RANK = {
    value: rank for rank, value in enumerate(dict.fromkeys(v for v in CRM_STATUS.values() if v))
}


async def effects(url: str, obj: str, *, since: int = 0) -> list[dict[str, Any]]:
    """Return a sandbox's logged writes to `obj` (oldest first)."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        answer = await http.get("/_sandbox/effects", params={"object": obj, "since": since})
    rows: list[dict[str, Any]] = answer.raise_for_status().json()["effects"]
    return rows


async def requests_since(url: str, since: int = 0) -> list[dict[str, Any]]:
    """Return the API calls a sandbox saw after sequence number `since` (faulted ones too)."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        answer = await http.get("/_sandbox/requests", params={"since": since})
    rows: list[dict[str, Any]] = answer.raise_for_status().json()["requests"]
    return rows


@dataclass(frozen=True)
class OrderCounts:
    """What the ERP holds of a set of CRM orders."""

    created: int
    lost: int
    duplicated: int


async def order_counts(erp_url: str, orders: Iterable[str]) -> OrderCounts:
    """Count the ERP's sale-order creates per CRM order (the external ref is the effect key)."""
    wanted = set(orders)
    creates = Counter(
        row["key"]
        for row in await effects(erp_url, "sale.order")
        if row["action"] == "create" and row["key"] in wanted
    )
    return OrderCounts(
        created=len(creates),
        lost=len(wanted - set(creates)),
        duplicated=sum(n - 1 for n in creates.values()),
    )


def activation_times(rows: list[dict[str, Any]]) -> dict[str, datetime]:
    """Return when each CRM order was activated, from the CRM's effects on `Order`."""
    return {
        row["record_id"]: datetime.fromisoformat(row["at"])
        for row in rows
        if (row["detail"].get("fields") or {}).get("Status") == "Activated"
    }


async def status_regressions(crm_url: str, orders: Iterable[str]) -> int:
    """Count status writes that moved a CRM order backwards (the CRM's own write log)."""
    wanted, last, regressions = set(orders), dict[str, int](), 0
    for row in await effects(crm_url, "Order"):
        status = (row["detail"].get("fields") or {}).get("ErpStatus__c")
        if row["record_id"] not in wanted or status not in _RANK:
            continue
        rank = _RANK[status]
        regressions += rank < last.get(row["record_id"], -1)
        last[row["record_id"]] = max(rank, last.get(row["record_id"], -1))
    return regressions


async def run_topics(kafka: KafkaTarget, prefix: str, app_id: str) -> list[str]:
    """Return every topic of a run: its prefixed ones and the app's internal ones."""
    admin = admin_client(kafka)
    await admin.start()
    try:
        return sorted(t for t in await admin.list_topics() if t.startswith((prefix, app_id)))
    finally:
        await admin.close()


async def read_records(kafka: KafkaTarget, topics: list[str]) -> list[Record]:
    """Return every record of `topics` up to their current ends (missing topics: none)."""
    admin = admin_client(kafka)
    await admin.start()
    try:
        present = set(await admin.list_topics())
    finally:
        await admin.close()
    records: list[Record] = await read_consumer_records(
        kafka, [t for t in topics if t in present], timeout_s=300
    )
    return records


async def dead_letters(kafka: KafkaTarget, prefix: str) -> int:
    """Return how many dead letters the run's topics hold."""
    return sum((await list_dead_letter_topics(kafka, prefix=prefix)).values())


def keyed_surplus(records: list[Record]) -> int:
    """Return how many records repeat a (topic, key, event type) seen before: re-emitted ones."""
    seen = Counter((r.topic, r.key, dict(r.headers).get("ce_type")) for r in records)
    return sum(n - 1 for n in seen.values())
