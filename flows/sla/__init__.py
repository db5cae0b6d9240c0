"""Business-SLA monitors: late deal steps become alerts on `biz.ops.sla-alert`."""

from bizbus.flows.sla.flow import SlaFlow

__all__ = ["SlaFlow"]
