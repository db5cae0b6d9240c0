"""CRM leads → `biz.sales.lead`; converted leads cross-referenced to their account."""

from bizbus.flows.leads.flow import LeadsFlow

__all__ = ["LeadsFlow"]
