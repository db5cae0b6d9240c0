"""Odoo (ERP) connector: external API over JSON-RPC ``execute_kw`` (14-19) or JSON-2 (19+).

Auth: the integration user's API key. Feeds poll ``write_date`` with an overlap and an id
tie-break; sinks find records by a unique external reference, then create or write. Limits:
429/5xx are retried with a bound by ``HttpConnector``. See ``connector.OdooConnector``.
"""

from bizbus.connectors.odoo.cancel import SaleOrderProgress, cancel_sale_order, sale_order_progress
from bizbus.connectors.odoo.change import sale_order_changes, write_sale_order
from bizbus.connectors.odoo.connector import FEED_MODELS, OdooConnector
from bizbus.connectors.odoo.models import MODELS, ModelSpec, Reference, spec_for
from bizbus.connectors.odoo.rpc import OdooRpc, fault_error, odoo_datetime
from bizbus.connectors.odoo.settings import OdooSettings
from bizbus.connectors.odoo.sink import LinesLockedError, Lookups, same_value
from bizbus.connectors.odoo.source import FeedOptions, cursor_id, parse_odoo_datetime, position

__all__ = [
    "FEED_MODELS",
    "MODELS",
    "FeedOptions",
    "LinesLockedError",
    "Lookups",
    "ModelSpec",
    "OdooConnector",
    "OdooRpc",
    "OdooSettings",
    "Reference",
    "SaleOrderProgress",
    "cancel_sale_order",
    "cursor_id",
    "fault_error",
    "odoo_datetime",
    "parse_odoo_datetime",
    "position",
    "sale_order_changes",
    "sale_order_progress",
    "same_value",
    "spec_for",
    "write_sale_order",
]
