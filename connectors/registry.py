"""Connector registry: name → ``"module:Class"``, imported only when asked for.

Adding a system is one line here plus its module, e.g.
``"salesforce": "bizbus.connectors.salesforce:SalesforceConnector",``.
"""

import importlib
from types import MappingProxyType

from bizbus.connectors.errors import ConfigError

__all__ = ["CONNECTORS", "connector_names", "load_connector"]

CONNECTORS = MappingProxyType(
    {
        "rest": "bizbus.connectors.generic_rest:RestSink",
        "webhook": "bizbus.connectors.generic_webhook:SignedWebhookSource",
        "salesforce": "bizbus.connectors.salesforce:SalesforceConnector",
        "odoo": "bizbus.connectors.odoo:OdooConnector",
        # Dialects add one line each when their module lands:
        "feishu": "bizbus.connectors.feishu:FeishuConnector",
    }
)


def connector_names() -> list[str]:
    """Registered connector names, sorted."""
    return sorted(CONNECTORS)


def load_connector(name: str) -> type:
    """Import and return the connector class registered as ``name``.

    Raises:
        ConfigError: ``name`` is not registered.
    """
    try:
        target = CONNECTORS[name]
    except KeyError:
        known = ", ".join(connector_names())
        raise ConfigError(f"unknown connector {name!r}: use one of {known}") from None
    module_name, _, class_name = target.partition(":")
    cls: type = getattr(importlib.import_module(module_name), class_name)
    return cls
