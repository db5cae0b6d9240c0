"""The CRM order write-back the orders and fulfilment flows share: ERP number, forward status."""

from bizbus.flows.order_updates.flow import OrderUpdatesFlow

__all__ = ["OrderUpdatesFlow"]
