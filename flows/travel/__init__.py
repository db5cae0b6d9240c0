"""The travel flow: OA travel approvals become ERP business trips, revocations cancel them."""

from bizbus.flows.travel.flow import TravelFlow

__all__ = ["TravelFlow"]
