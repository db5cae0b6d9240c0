"""The customers flow: CRM accounts become ERP customers, their numbers written back."""

from bizbus.flows.customers.flow import CustomersFlow

__all__ = ["CustomersFlow"]
