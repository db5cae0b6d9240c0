"""S3: canary secrets and personal data, searched for in clear everywhere the run left traces.

Canaries: the connectors' secrets, the web token and the personal-data key (all in every
worker's settings), a canary phone number on two new CRM accounts (one reaches the ERP, one is
dead-lettered for an unknown country) and the e-mail of the salesperson who owns them and every
order of the run. Searched: every record of every topic of the run (keys, values, headers;
dead letters, changelogs and internal topics included), every worker log, and every worker's
`/metrics`. Target: 0 hits. The ERP must still get the phone in clear (the sink's job).
"""

import re
import secrets

import httpx
import orjson

from bizbus.connectors.salesforce import format_soql
from bizbus.deploy.chaos import verify
from bizbus.deploy.chaos.orders import SALESPERSON
from bizbus.deploy.chaos.report import ScenarioResult
from bizbus.deploy.chaos.stack import ChaosStack, Progress
from bizbus.deploy.demo.actors import CrmUser, ErpUser
from bizbus.deploy.sandbox.wiring import connector_env

__all__ = ["run_leaks"]

CANARY_WAIT_S = 600.0
SECRET_SETTINGS = ("SECRET", "API_KEY", "ENCRYPT_KEY", "VERIFICATION_TOKEN", "WEB_TOKEN")


def canary_phone() -> str:
    """Return a phone number nobody else uses in this run."""
    digits = f"{secrets.randbelow(10**8):08d}"
    return f"+86 139 {digits[:4]} {digits[4:]}"


def secret_needles(stack: ChaosStack) -> list[bytes]:
    """Return every secret a worker of the stack holds in its settings."""
    settings = {**connector_env(stack.urls), "BIZBUS_WEB_TOKEN": stack.web_token}
    values = [v for k, v in settings.items() if k.endswith(SECRET_SETTINGS)]
    values += orjson.loads(stack.pii[1]["BIZBUS_PII_KEYS"]).values()  # the key material
    return [v.encode() for v in values if len(v) >= 8]


async def _canary_accounts(stack: ChaosStack, phone: str) -> tuple[str, str]:
    crm = await CrmUser(stack.urls["crm"], SALESPERSON.email).login()
    erp = ErpUser(stack.urls["erp"])
    try:
        [owner] = await crm.query(
            format_soql("SELECT Id FROM User WHERE Username = {u}", u=SALESPERSON.email)
        )
        tag = secrets.token_hex(3)
        good = await crm.create("Account", {"Name": f"金丝雀精密机械 {tag}", "Phone": phone,
                                            "BillingCountry": "中国", "BillingCity": "苏州",
                                            "OwnerId": owner["Id"]})  # fmt: skip
        bad = await crm.create("Account", {"Name": f"金丝雀贸易 {tag}", "Phone": phone,
                                           "BillingCountry": "Atlantis",
                                           "OwnerId": owner["Id"]})  # fmt: skip

        async def in_erp() -> str | None:
            rows = await erp.search_read("res.partner", [["ref", "=", f"CRM-{good}"]], ["phone"])
            return str(rows[0]["phone"]) if rows else None

        # A long run leaves a backlog ahead of the canary: wait it out.
        got = await stack.wait_for(
            in_erp, what="the canary account as an ERP customer", timeout_s=CANARY_WAIT_S
        )
        if got != phone:
            raise AssertionError("the ERP did not get the canary phone in clear")
        return good, bad
    finally:
        await crm.aclose()
        await erp.aclose()


async def run_leaks(stack: ChaosStack, progress: Progress) -> ScenarioResult:
    """Put the personal-data canaries through, then search topics, logs and metrics."""
    result = ScenarioResult("S3", "canary secrets and personal data in clear")
    phone = canary_phone()
    dead_before = await verify.dead_letters(stack.kafka, stack.prefix)
    progress("S3: two canary accounts through the customers flow")
    _, bad = await _canary_accounts(stack, phone)

    async def bad_dead_lettered() -> bool:
        records = await verify.read_records(stack.kafka, [stack.topic("src.crm.account.dlq")])
        return any(bad.encode() in (r.key or b"") for r in records)

    await stack.wait_for(
        bad_dead_lettered,
        what="the canary account with an unknown country dead-lettered",
        timeout_s=CANARY_WAIT_S,
    )
    personal = [phone.encode(), re.sub(r"\D", "", phone)[2:].encode(), SALESPERSON.email.encode()]
    needles = [*personal, *secret_needles(stack)]
    progress(f"S3: searching for {len(needles)} canaries")
    topics = await verify.run_topics(stack.kafka, stack.prefix, stack.app_id)
    records = await verify.read_records(stack.kafka, topics)
    hits: dict[str, int] = {"topics": 0, "logs": 0, "metrics": 0}
    for record in records:
        blob = b"|".join(
            [record.key or b"", record.value or b"", *(n.encode() + v for n, v in record.headers)]
        )
        hits["topics"] += sum(needle in blob for needle in needles)
    for log in stack.logs():
        text = log.read_bytes()
        hits["logs"] += sum(needle in text for needle in needles)
    async with httpx.AsyncClient(timeout=10) as http:
        for member in stack.running():
            scraped = (await http.get(member.url + "/metrics")).content
            hits["metrics"] += sum(needle in scraped for needle in needles)
    result.zeros |= {f"hits in {place}": count for place, count in hits.items()}
    result.n = len(needles)
    result.figures["records searched"] = len(records)
    result.figures["topics searched"] = len(topics)
    # One dead letter is the point: the canary with an unknown country.
    result.dead_lettered = await verify.dead_letters(stack.kafka, stack.prefix) - dead_before - 1
    result.crashes = stack.count_crashes()
    return result
