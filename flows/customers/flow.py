"""CRM accounts → ERP customers, cross-referenced, with the customer number written back once.

`src.crm.account` (not deleted, not our echo) → `biz.sales.account` → `cmd.erp.customer` → Odoo
`res.partner` by `ref`, xref `customer:<ref>`, `ErpCustomerRef__c` → `biz.sales.customer`. Key:
the CRM account id. Idempotent: both writes compare first. Dead letters: bad records, rows
without Id/Name, unknown countries, a number two accounts claim, writes a system refuses.
"""

import logging
from typing import ClassVar

from bizbus.connectors.base import SinkCommand
from bizbus.connectors.errors import RejectedError
from bizbus.flows.context import FlowDeps
from bizbus.flows.customers.mapping import (
    customer_command,
    customer_event,
    map_account,
    partner_payload,
)
from bizbus.flows.customers.reconcile import customers_reconciler
from bizbus.flows.runtime import spec
from bizbus.flows.runtime.reconcile import Reconciler
from bizbus.flows.runtime.record import RawRecord
from bizbus.flows.runtime.spec import Declaration, Emit, Output, StageSpec
from bizbus.flows.shared import (
    CRM,
    ERP,
    Owners,
    captured,
    crm_batch,
    crm_feed,
    decode_as,
    follow_up,
    is_echo,
)
from bizbus.schemas import AccountUpsertedV1, CustomerUpsertRequestedV1

log = logging.getLogger("bizbus.flows.customers")
SOURCE = "bizbus://flows/customers"
PARTNER_FIELDS = ["id", "name", "ref", "vat", "phone", "email", "active", "write_date"]


def xref_key(ref: str) -> str:
    """Return the cross-reference key of a customer number."""
    return f"customer:{ref}"


class CustomersFlow:
    """CRM accounts to ERP customers: three stages and the account feed."""

    TABLES: ClassVar[tuple[spec.TableSpec, ...]] = ()

    def __init__(self, deps: FlowDeps, tables: spec.Tables | None = None) -> None:
        self.deps = deps
        self.owners = Owners()
        self.read_accounts = crm_feed(deps.connections, "Account")

    def declare(self) -> Declaration:
        """Return the account feed and the three stages."""
        return Declaration(
            stages=(
                StageSpec("crm-accounts", "src.crm.account", self.on_account, CRM),
                StageSpec(
                    "customer-requests", "biz.sales.account", self.on_account_upserted, pure=True
                ),
                StageSpec("erp-customers", "cmd.erp.customer", self.on_customer, ERP | CRM),
            ),
            feeds=(
                spec.Feed(
                    "crm.account",
                    "crm",
                    "src.crm.account",
                    self.read_accounts,
                    batch=crm_batch(self.deps.connections, "Account"),
                    entity="Account",
                ),
            ),
            emits=("biz.sales.account", "cmd.erp.customer", "biz.sales.customer"),
        )

    def reconcilers(self) -> tuple[Reconciler, ...]:
        """Return what `bizbus reconcile` compares for customers: each account's partner."""
        return (customers_reconciler(self.deps.connections),)

    async def on_account(self, record: RawRecord) -> list[Output]:
        """A polled CRM Account → its canonical account (deletions and our echoes: nothing)."""
        event, raw = captured(record, self.deps.keys, entity="Account")
        if raw.change_type == "delete":
            log.info("CRM account %s was deleted; its ERP customer is kept", raw.record_id)
            return []
        crm = await self.deps.connections.crm()
        if is_echo(crm, raw.record):
            return []
        account = map_account(raw.record, await self.owners.of(crm, raw.record))
        return [Emit(follow_up(account, event, source=SOURCE, origin="crm"))]

    async def on_account_upserted(self, record: RawRecord) -> list[Output]:
        """A canonical account → the ERP customer upsert it asks for."""
        event, account = decode_as(record, AccountUpsertedV1, "an account", self.deps.keys)
        command = customer_command(account)
        return [Emit(follow_up(command, event, source=SOURCE, origin="crm"))]

    async def on_customer(self, record: RawRecord) -> list[Output]:
        """Upsert the ERP partner, cross-reference it, write its number back to the Account.

        Raises:
            RejectedError: Another CRM account holds this customer number already.
        """
        event, command = decode_as(
            record, CustomerUpsertRequestedV1, "a customer upsert", self.deps.keys
        )
        claimed = self.deps.xref.get(xref_key(command.ref)).get("crm")
        if claimed and claimed != command.crm_account_id:
            raise RejectedError(
                f"customer number {command.ref} already belongs to CRM account {claimed}; "
                f"account {command.crm_account_id} needs its own number",
                system="bizbus",
            )
        erp = await self.deps.connections.erp()
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
        self.deps.xref.record(
            xref_key(command.ref), crm=command.crm_account_id, erp=str(partner_id)
        )
        crm = await self.deps.connections.crm()
        await crm.update_by_id(
            "Account", command.crm_account_id, {"ErpCustomerRef__c": command.ref}
        )
        upserted = customer_event(command, partner, fallback_time=self.deps.now())
        log.info("CRM account %s is ERP customer %s (%s)", command.crm_account_id, command.ref,
                 result.outcome.value)  # fmt: skip
        return [Emit(follow_up(upserted, event, source=SOURCE, origin="erp"))]
