"""CRM accounts → ERP customers, cross-referenced, with the customer number written back once.

`src.crm.account` (polled Salesforce Account rows) → drop deletions and echoes of our own writes →
`biz.sales.account` (AccountUpsertedV1) → `cmd.erp.customer` (CustomerUpsertRequestedV1) → Odoo
`res.partner` upserted by `ref` → xref `customer:<ref>`, `ErpCustomerRef__c` on the Account (by
Id, only when it differs: that write's echo is dropped at the first step) → `biz.sales.customer`.
Keys: `Account:<id>` / CRM account id (one account's changes in order); customer number on
`biz.sales.customer`. Idempotent: partner and Account writes compare first, so a redelivery
writes nothing. Dead letters: undecodable records, rows without Id/Name, unknown countries, two
accounts claiming one customer number, writes the ERP or CRM refuses.
"""

import logging
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

from bizbus.connectors.base import Cursor, SinkCommand, SourceRecord
from bizbus.connectors.errors import MappingError, RejectedError, SchemaError
from bizbus.connectors.salesforce import SalesforceConnector
from bizbus.flows.context import FlowContext, follow_up
from bizbus.flows.customers_mapping import (
    customer_command,
    customer_event,
    map_account,
    partner_payload,
    sales_rep,
)
from bizbus.flows.runtime.record import RawRecord
from bizbus.flows.runtime.spec import Feed
from bizbus.schemas import (
    AccountUpsertedV1,
    CustomerUpsertRequestedV1,
    Envelope,
    SalesRep,
    SourceRecordCapturedV1,
    decode_record,
)
from bizbus.schemas.errors import SchemaError as ContractError

log = logging.getLogger("bizbus.flows.customers")
SOURCE = "bizbus://flows/customers"
PARTNER_FIELDS = ["id", "name", "ref", "vat", "phone", "email", "active", "write_date"]


def decode(record: RawRecord) -> Envelope[Any]:
    """Decode a consumed record; a bad one fails with its (value-free) reason for dead letters."""
    try:
        return decode_record(record.value, record.headers)
    except SchemaError:
        raise
    except ContractError as error:  # schemas' own error: says where, never the values
        raise SchemaError(f"{record.topic}: undecodable record: {error}") from error


def xref_key(ref: str) -> str:
    """Return the cross-reference key of a customer number."""
    return f"customer:{ref}"


def is_echo(crm: SalesforceConnector, row: Mapping[str, Any]) -> bool:
    """True when a polled CRM row's last write was ours (a write-back coming back)."""
    return crm.echo_hint(dict(row)) == crm.client_tag


class Owners:
    """CRM users by id, read once per worker (names and e-mails of sales reps rarely change)."""

    def __init__(self) -> None:
        self._known: dict[str, SalesRep] = {}

    async def of(self, crm: SalesforceConnector, row: Mapping[str, Any]) -> SalesRep:
        """Return the owner of a CRM row (its last editor when the org left OwnerId empty)."""
        user_id = row.get("OwnerId") or row.get("LastModifiedById")
        if not isinstance(user_id, str) or not user_id:
            raise MappingError("crm: record without an OwnerId or LastModifiedById")
        if user_id not in self._known:
            user = await crm.get("User", user_id, fields=["Id", "Name", "Email"])
            self._known[user_id] = sales_rep(user_id, user)
        return self._known[user_id]


def register(ctx: FlowContext) -> None:
    """Declare the account feed and the three agents of the customers flow."""
    owners = Owners()

    async def read_accounts(since: Cursor | None) -> AsyncIterator[SourceRecord]:
        crm = await ctx.connections.crm()
        async for record in crm.changes("Account", since):
            yield record

    ctx.poller.add(Feed("crm.account", "crm", "src.crm.account", read_accounts))

    async def publish_account(record: RawRecord) -> None:
        event = decode(record)
        raw = event.data
        if not isinstance(raw, SourceRecordCapturedV1) or raw.object_name != "Account":
            raise SchemaError(f"src.crm.account carries {event.type}, not a CRM Account record")
        if raw.change_type == "delete":
            log.info("CRM account %s was deleted; its ERP customer is kept", raw.record_id)
            return
        crm = await ctx.connections.crm()
        if is_echo(crm, raw.record):
            return
        owner = await owners.of(crm, raw.record)
        account = map_account(raw.record, owner)
        await ctx.publish(follow_up(account, event, source=SOURCE, origin="crm"))

    async def request_customer(record: RawRecord) -> None:
        event = decode(record)
        account = event.data
        if not isinstance(account, AccountUpsertedV1):
            raise SchemaError(f"biz.sales.account carries {event.type}, not an account")
        await ctx.publish(follow_up(customer_command(account), event, source=SOURCE, origin="crm"))

    async def apply_customer(record: RawRecord) -> None:
        event = decode(record)
        command = event.data
        if not isinstance(command, CustomerUpsertRequestedV1):
            raise SchemaError(f"cmd.erp.customer carries {event.type}, not a customer upsert")
        claimed = ctx.xref.get(xref_key(command.ref)).get("crm")
        if claimed and claimed != command.crm_account_id:
            raise RejectedError(
                f"customer number {command.ref} already belongs to CRM account {claimed}; "
                f"account {command.crm_account_id} needs its own number",
                system="bizbus",
            )
        erp = await ctx.connections.erp()
        result = await erp.apply(
            SinkCommand(
                "res.partner",
                command.ref,
                partner_payload(command),
                idempotency_key=event.id,
                correlation_id=event.correlationid,
            )
        )
        partner_id = int(result.external_ids["odoo_id"])
        [partner] = await erp.read("res.partner", [partner_id], fields=PARTNER_FIELDS)
        ctx.xref.record(xref_key(command.ref), crm=command.crm_account_id, erp=str(partner_id))
        crm = await ctx.connections.crm()
        await crm.update_by_id(
            "Account", command.crm_account_id, {"ErpCustomerRef__c": command.ref}
        )
        upserted = customer_event(command, partner, fallback_time=datetime.now(UTC))
        log.info("CRM account %s is ERP customer %s (%s)", command.crm_account_id, command.ref,
                 result.outcome.value)  # fmt: skip
        await ctx.publish(follow_up(upserted, event, source=SOURCE, origin="erp"))

    ctx.agent("src.crm.account", publish_account, name="crm-accounts")
    ctx.agent("biz.sales.account", request_customer, name="customer-requests")
    ctx.agent("cmd.erp.customer", apply_customer, name="erp-customers")
