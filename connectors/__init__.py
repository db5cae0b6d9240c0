"""Connectors: one module per external system dialect plus shared HTTP and webhook machinery."""

from bizbus.connectors.auth import (
    AccessToken,
    FeishuTenantToken,
    OdooApiKey,
    RefreshingToken,
    SalesforceClientCredentials,
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
)
from bizbus.connectors.quota import (
    RateBudget,
)
from bizbus.connectors.registry import (
    DIALECTS,
    ROLES,
    Connector,
    Dialect,
    DialectSettings,
    Role,
    build_connector,
    dialect_for,
)
from bizbus.connectors.retry import (
    RetryPolicy,
)
from bizbus.connectors.settings import (
    BizbusSettings,
    ConnectorSettings,
    describe_errors,
    http_url,
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
    VerifiedWebhook,
    decrypt_feishu,
)

__all__ = [
    "DIALECTS",
    "ROLES",
    "AccessToken",
    "ApplyResult",
    "AuthError",
    "BizbusSettings",
    "ConfigError",
    "Connector",
    "ConnectorError",
    "ConnectorSettings",
    "Cursor",
    "Dialect",
    "DialectSettings",
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
    "Role",
    "SalesforceClientCredentials",
    "SchemaError",
    "Sink",
    "SinkCommand",
    "Source",
    "SourceRecord",
    "TokenProvider",
    "TransientError",
    "VerifiedWebhook",
    "build_connector",
    "content_digest",
    "decrypt_feishu",
    "describe_errors",
    "dialect_for",
    "error_for_response",
    "error_for_transport",
    "http_url",
    "load_settings",
    "next_poll",
    "parse_retry_after",
]
