"""The orders flow: activated CRM orders become confirmed ERP sales orders."""

from bizbus.flows.orders.flow import OrdersFlow

__all__ = ["OrdersFlow"]
