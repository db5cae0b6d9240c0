"""Personal data never travels in clear: canaries put in the CRM reach the ERP and nothing else.

One stack (CRM and ERP sandboxes, a worker running `customers`). Two accounts carry canary phone
numbers and are owned by a salesperson whose e-mail is the e-mail canary; one goes through to the
ERP, the other is dead-lettered (an unknown billing country). Then every record of every topic
the stack uses (values, keys and headers; dead letters, changelogs and internal topics included)
and the worker's log are searched for the canaries, and `bizbus dlq show --values` and
`bizbus trace` are read as people would read them.
"""

import re
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from bizbus.connectors.salesforce import format_soql
from bizbus.deploy.chaos.verify import read_records, run_topics
from bizbus.deploy.cli import app as cli
from bizbus.deploy.demo.actors import CrmUser, ErpUser
from bizbus.schemas import decode_record
from bizbus.schemas.personal import KEY_ID_HEADER, MASK
from tests.integration.conftest import SALESPERSON
from tests.integration.flowstack import FlowStack

TOPICS = ("src.crm.account", "biz.sales.account", "cmd.erp.customer", "biz.sales.customer")
state: dict[str, Any] = {}


def canary_phone() -> str:
    digits = f"{secrets.randbelow(10**8):08d}"
    return f"+86 139 {digits[:4]} {digits[4:]}"


def needles() -> list[bytes]:
    """Every canary, as written and as bare digits (a phone may be normalised on the way)."""
    texts = [*state["phones"], SALESPERSON.email]
    texts += [re.sub(r"\D", "", phone)[2:] for phone in state["phones"]]  # 139xxxxxxxx
    return [text.encode() for text in texts]


@pytest.fixture(scope="module")
def stack(flow_stack_factory: Any) -> Iterator[FlowStack]:
    started: FlowStack = flow_stack_factory(flows="customers", systems=("crm", "erp"))
    yield started


async def everything(stack: FlowStack) -> list[Any]:
    """Every record of every topic of the stack: its own, dead letters, faust's internal ones."""
    topics = await run_topics(stack.kafka_bootstrap, stack.topic_prefix, stack.app_id)
    return await read_records(stack.kafka_bootstrap, topics)


async def test_canaries_reach_the_erp_in_clear_and_no_topic_dead_letter_or_log(
    stack: FlowStack, crm: CrmUser, erp: ErpUser
) -> None:
    tag = secrets.token_hex(3)
    state["phones"] = [canary_phone(), canary_phone()]
    [owner] = await crm.query(
        format_soql("SELECT Id, Email FROM User WHERE Username = {u}", u=SALESPERSON.email)
    )
    assert owner["Email"] == SALESPERSON.email  # the e-mail canary: the accounts' owner's
    good = await crm.create("Account", {"Name": f"金丝雀精密机械有限公司 {tag}",
                                        "Phone": state["phones"][0], "BillingCountry": "中国",
                                        "BillingCity": "苏州", "OwnerId": owner["Id"]})  # fmt: skip
    bad = await crm.create("Account", {"Name": f"金丝雀贸易有限公司 {tag}",
                                       "Phone": state["phones"][1], "BillingCountry": "Atlantis",
                                       "OwnerId": owner["Id"]})  # fmt: skip
    state["bad"] = bad

    async def in_erp() -> dict[str, Any] | None:
        rows = await erp.search_read("res.partner", [["ref", "=", f"CRM-{good}"]], ["phone"])
        return rows[0] if rows else None

    partner = await stack.wait_for(in_erp, what="the canary account as an ERP customer")
    assert partner["phone"] == state["phones"][0]  # the sink wrote it in clear

    async def dead_lettered() -> list[Any]:
        dlq = stack.topic("src.crm.account.dlq")
        return [r for r in await everything(stack) if r.topic == dlq and bad.encode() in r.key]

    await stack.wait_for(dead_lettered, what="the account with an unknown country dead-lettered")
    await stack.wait_caught_up(*TOPICS[:-1])  # the last one's records come from the others

    records = await everything(stack)
    about = [
        r for r in records if good.encode() in (r.key or b"") or bad.encode() in (r.key or b"")
    ]
    assert {r.topic for r in about} >= {stack.topic(t) for t in (*TOPICS, "src.crm.account.dlq")}
    sealed = [r for r in about if KEY_ID_HEADER in dict(r.headers)]
    assert sealed, "no record of the canary accounts carries sealed personal data"
    for record in records:
        blob = b"|".join(
            [record.key or b"", record.value or b"", *(n.encode() + v for n, v in record.headers)]
        )
        leaked = [needle for needle in needles() if needle in blob]
        assert not leaked, f"{record.topic}@{record.offset} holds {leaked} in clear"
    log = stack.log_path.read_bytes()
    assert not [needle for needle in needles() if needle in log], "the worker log holds a canary"

    # The worker's own key opens them: the data is there, only sealed.
    account = next(r for r in about if r.topic == stack.topic("biz.sales.account")
                   and good.encode() in r.key)  # fmt: skip
    opened = decode_record(account.value, account.headers, keys=stack.keys).data
    assert opened.phone == state["phones"][0] and opened.owner.email == SALESPERSON.email


def test_dead_letters_and_traces_show_people_masks(
    stack: FlowStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in stack.worker_env().items():
        if name.startswith("BIZBUS_") and not name.startswith("BIZBUS_PII_"):
            monkeypatch.setenv(name, value)  # the CLI as ops run it: no personal-data keys
    runner = CliRunner()
    shown = runner.invoke(cli, ["dlq", "show", stack.topic("src.crm.account.dlq"), "--values"])
    assert shown.exit_code == 0, shown.output
    assert state["bad"] in shown.output and MASK in shown.output
    traced = runner.invoke(cli, ["trace", state["bad"]])
    assert traced.exit_code == 0, traced.output
    for output in (shown.output, traced.output):
        assert not [n for n in needles() if n.decode() in output]
