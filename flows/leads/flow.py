"""CRM leads → LeadCapturedV1 on `biz.sales.lead`: the trade show's pipeline, for any consumer.

`src.crm.lead` (not deleted) → the canonical lead, published once per content (a table keeps
each lead's last digest, written once the event is acked) → `biz.sales.lead` (key: CRM lead
id) → a converted lead links to its account in the cross-reference store (`lead:<id>`).
Dead letters: bad records, rows without Id, company or name.
"""

import logging
from typing import ClassVar

from bizbus.flows.context import FlowDeps
from bizbus.flows.leads.mapping import lead_digest, map_lead
from bizbus.flows.runtime import spec
from bizbus.flows.runtime.record import RawRecord
from bizbus.flows.runtime.spec import Declaration, Emit, Output, Put, StageSpec
from bizbus.flows.shared import CRM, Owners, captured, crm_batch, crm_feed, decode_as, follow_up
from bizbus.schemas import TOPICS, LeadCapturedV1

log = logging.getLogger("bizbus.flows.leads")
SOURCE = "bizbus://flows/leads"
RAW_TOPIC = "src.crm.lead"
PUBLISHED = spec.TableSpec("crm-leads-published", TOPICS[RAW_TOPIC].partitions)


def xref_key(lead_id: str) -> str:
    """Return the cross-reference key of a CRM lead."""
    return f"lead:{lead_id}"


class LeadsFlow:
    """CRM leads to canonical lead events; converted leads cross-referenced to their account."""

    TABLES: ClassVar[tuple[spec.TableSpec, ...]] = (PUBLISHED,)

    def __init__(self, deps: FlowDeps, tables: spec.Tables | None = None) -> None:
        self.deps = deps
        self.owners = Owners()
        self.read_leads = crm_feed(deps.connections, "Lead")
        self.published = (tables or spec.fresh_tables(*self.TABLES))[PUBLISHED.name]

    def declare(self) -> Declaration:
        """Return the lead feed and its two stages."""
        feed = spec.Feed("crm.lead", "crm", RAW_TOPIC, self.read_leads,
                         batch=crm_batch(self.deps.connections, "Lead"))  # fmt: skip
        return Declaration(
            stages=(
                StageSpec("crm-leads", RAW_TOPIC, self.on_lead, CRM),
                StageSpec("lead-links", "biz.sales.lead", self.on_captured),
            ),
            feeds=(feed,),
            emits=("biz.sales.lead",),
        )

    async def on_lead(self, record: RawRecord) -> list[Output]:
        """A polled CRM Lead → LeadCapturedV1, once per content (remembered once acked)."""
        event, raw = captured(record, self.deps.keys, entity="Lead")
        if raw.change_type == "delete":
            log.info("CRM lead %s was deleted", raw.record_id)
            return []
        crm = await self.deps.connections.crm()
        lead = map_lead(raw.record, await self.owners.of(crm, raw.record))
        digest = lead_digest(lead)
        if self.published.get(lead.lead_id) == digest:
            return []  # the same lead content was published already (re-poll, redelivery)
        return [
            Emit(follow_up(lead, event, source=SOURCE, origin="crm")),
            Put(self.published, lead.lead_id, digest),
        ]

    async def on_captured(self, record: RawRecord) -> list[Output]:
        """A converted lead → `lead:<id>` in the cross-references, next to its account."""
        _, lead = decode_as(record, LeadCapturedV1, "a lead", self.deps.keys)
        if lead.converted_account_id:
            self.deps.xref.record(
                xref_key(lead.lead_id), crm=lead.lead_id, account=lead.converted_account_id
            )
            log.info("CRM lead %s became account %s", lead.lead_id, lead.converted_account_id)
        return []
