"""Stock and production visibility: ERP stock and planned production → CRM product availability."""

from bizbus.flows.stock_visibility.flow import StockVisibilityFlow

__all__ = ["StockVisibilityFlow"]
