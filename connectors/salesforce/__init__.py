"""Salesforce (CRM) connector: REST API v60.0, OAuth 2.0 client credentials, SOQL polling feeds.

Limits: every call counts against the org's daily API allowance; 429 and 5xx are retried with a
bound. See ``connector.SalesforceConnector`` for the API flows use.
"""

from bizbus.connectors.salesforce.client import SalesforceClient, UpsertResult
from bizbus.connectors.salesforce.collections import SaveResult
from bizbus.connectors.salesforce.connector import FEED_ENTITIES, SalesforceConnector
from bizbus.connectors.salesforce.objects import OBJECTS, ObjectSpec
from bizbus.connectors.salesforce.settings import SalesforceSettings
from bizbus.connectors.salesforce.sink import FlaggedOrders
from bizbus.connectors.salesforce.soql import (
    format_soql,
    literal,
    parse_datetime,
    quote,
    quote_like,
    select,
)

__all__ = [
    "FEED_ENTITIES",
    "OBJECTS",
    "FlaggedOrders",
    "ObjectSpec",
    "SalesforceClient",
    "SalesforceConnector",
    "SalesforceSettings",
    "SaveResult",
    "UpsertResult",
    "format_soql",
    "literal",
    "parse_datetime",
    "quote",
    "quote_like",
    "select",
]
