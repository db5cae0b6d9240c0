"""Customers: each CRM account against the ERP partner holding its customer number.

The CRM owns the customer fields bizbus carries, so a partner that is missing or differs is
healed with the customer upsert the customers flow would send. Drifts name the fields that
differ, never their values: names, phones and addresses are personal data.
"""

from collections.abc import Mapping
from typing import Any

from bizbus.connectors.errors import MappingError
from bizbus.connectors.salesforce import select
from bizbus.connectors.salesforce.objects import SYSTEM_FIELDS, spec_for
from bizbus.flows.context import Systems
from bizbus.flows.customers.mapping import customer_command, map_account, partner_payload
from bizbus.flows.runtime.reconcile import Drift, Reconciled, Reconciler, heal
from bizbus.flows.shared import sales_rep

__all__ = ["customer_drift", "customers_reconciler"]

COMPARED = ("name", "street", "city", "zip", "phone", "email", "vat")
"""Partner fields the customers flow writes (and so the ones that can drift)."""


def customer_drift(
    account: Mapping[str, Any], partners: Mapping[str, Mapping[str, Any]]
) -> Drift | None:
    """Return how the ERP partner of one CRM account strays from it, or None."""
    account_id = str(account.get("Id", ""))
    # As the flow's Owners: the last editor when the org left OwnerId empty (unused in the
    # comparison, but the canonical account requires one).
    owner = str(account.get("OwnerId") or account.get("LastModifiedById") or account_id)
    try:
        mapped = map_account(account, sales_rep(owner, None))
    except MappingError as error:
        return Drift(account_id, "not mappable", str(error))
    except ValueError as error:  # pydantic's too; its message may quote the record: not shown
        return Drift(account_id, "not mappable", f"{type(error).__name__} (values not shown)")
    command = customer_command(mapped)
    partner = partners.get(command.ref)
    if partner is None:
        return Drift(account_id, "not in the ERP", f"ref {command.ref}", heal(command, "customers"))
    wanted = partner_payload(command)
    differ = [
        name
        for name in COMPARED
        if name in wanted and _erp_text(partner.get(name)) != _erp_text(wanted[name])
    ]
    if not differ:
        return None
    detail = f"ref {command.ref}: fields differ: {', '.join(differ)}"
    return Drift(account_id, "fields differ", detail, heal(command, "customers"))


def _erp_text(value: Any) -> str | None:
    """Odoo reads an empty field as False; compare it as None, everything else as text."""
    return None if value is None or value is False or value == "" else str(value)


def customers_reconciler(systems: Systems) -> Reconciler:
    """Return the `customers` reconciler of the customers flow."""

    async def check() -> Reconciled:
        crm = await systems.crm()
        fields = dict.fromkeys((*SYSTEM_FIELDS, *spec_for("Account").fields))
        accounts = await crm.query(select("Account", fields))
        erp = await systems.erp()
        rows = await erp.search_read(
            "res.partner",
            [("ref", "!=", False), ("active", "in", [True, False])],
            fields=["ref", *COMPARED],
        )
        partners = {str(row["ref"]): row for row in rows}
        drifts = [drift for row in accounts if (drift := customer_drift(row, partners))]
        return Reconciled(len(accounts), tuple(drifts))

    return Reconciler("customers", "customers", check)
