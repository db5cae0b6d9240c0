"""Connectors: one module per external system dialect plus shared HTTP and webhook machinery."""

from bizbus.connectors.auth import (
    AccessToken,
    FeishuTenantToken,
    OdooApiKey,
    RefreshingToken,
    SalesforceClientCredentials,
    StaticToken,
    TokenProvider,
)
from bizbus.connectors.base import (
    ApplyResult,
    Cursor,
    FeedStates,
    Outcome,
    PollBatch,
    PollState,
    Sink,
    SinkCommand,
    Source,
    SourceRecord,
    content_digest,
    next_poll,
)
from bizbus.connectors.errors import (
    AuthError,
    ConfigError,
    ConnectorError,
    IntegrationError,
    MappingError,
    RateLimited,
    RejectedError,
    SchemaError,
    TransientError,
)
from bizbus.connectors.httpbase import (
    HttpConnector,
    RetryPolicy,
)
from bizbus.connectors.quota import (
    RateBudget,
)
from bizbus.connectors.registry import (
    CONNECTORS,
    connector_names,
    load_connector,
)
from bizbus.connectors.settings import (
    BizbusSettings,
    ConnectorSettings,
    describe_errors,
    load_settings,
)
from bizbus.connectors.status import (
    error_for_response,
    error_for_transport,
    parse_retry_after,
)
from bizbus.connectors.webhooks import (
    FeishuEventVerifier,
    ReplayCache,
    ReplayStore,
    StandardWebhookVerifier,
    VerifiedWebhook,
    decrypt_feishu,
)

__all__ = [
    "CONNECTORS",
    "AccessToken",
    "ApplyResult",
    "AuthError",
    "BizbusSettings",
    "ConfigError",
    "ConnectorError",
    "ConnectorSettings",
    "Cursor",
    "FeedStates",
    "FeishuEventVerifier",
    "FeishuTenantToken",
    "HttpConnector",
    "IntegrationError",
    "MappingError",
    "OdooApiKey",
    "Outcome",
    "PollBatch",
    "PollState",
    "RateBudget",
    "RateLimited",
    "RefreshingToken",
    "RejectedError",
    "ReplayCache",
    "ReplayStore",
    "RetryPolicy",
    "SalesforceClientCredentials",
    "SchemaError",
    "Sink",
    "SinkCommand",
    "Source",
    "SourceRecord",
    "StandardWebhookVerifier",
    "StaticToken",
    "TokenProvider",
    "TransientError",
    "VerifiedWebhook",
    "connector_names",
    "content_digest",
    "decrypt_feishu",
    "describe_errors",
    "error_for_response",
    "error_for_transport",
    "load_connector",
    "load_settings",
    "next_poll",
    "parse_retry_after",
]
