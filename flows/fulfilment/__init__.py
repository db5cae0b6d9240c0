"""The fulfilment flow: ERP progress moves the CRM order status forward."""

from bizbus.flows.fulfilment.flow import FulfilmentFlow

__all__ = ["FulfilmentFlow"]
