"""Settings of the Salesforce connector, read from ``BIZBUS_CRM_*`` and checked at start-up.

System: Salesforce REST API (default v60.0). Auth: OAuth 2.0 client credentials of a connected
app that runs as the integration user. ``load_settings(SalesforceSettings)`` names any bad
variable and how to fix it, never its value.
"""

import re
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from bizbus.connectors.settings import ConnectorSettings, http_url

__all__ = ["SalesforceSettings"]

_VERSION = re.compile(r"^v\d{2,3}\.0$")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_TAG = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


class SalesforceSettings(ConnectorSettings):
    """``BIZBUS_CRM_*``: where the org is, how to log in, and how to poll and write."""

    model_config = SettingsConfigDict(env_prefix="BIZBUS_CRM_")

    base_url: str = Field(
        description="the org's instance URL, e.g. https://acme.my.salesforce.com (no path)"
    )
    client_id: str = Field(min_length=1, description="the connected app's consumer key")
    client_secret: SecretStr = Field(description="the connected app's consumer secret")
    token_url: str | None = Field(
        None,
        description="the OAuth token endpoint (empty: <base_url>/services/oauth2/token)",
    )
    api_version: str = Field("v60.0", description="a REST API version such as v60.0")
    client_tag: str = Field(
        "bizbus",
        description="the Sforce-Call-Options client name stamped on our writes "
        "(letters, digits, . _ -)",
    )
    echo_field: str = Field(
        "bizbus_LastChangeClient__c",
        description="a field holding the client of the last write, or empty to compare "
        "LastModifiedById with the integration user",
    )
    integration_user_id: str | None = Field(
        None,
        description="the integration user's 18-character id (empty: taken from the token response)",
    )
    page_size: int = Field(
        200, ge=1, le=2000, description="rows per polling query, between 1 and 2000"
    )
    poll_overlap_s: float = Field(
        60.0, ge=0, description="seconds each poll re-reads before its watermark (>= 0)"
    )
    poll_interval_s: float = Field(
        5.0, gt=0, description="seconds between two polls of one feed once caught up (> 0)"
    )
    feed_deleted: bool = Field(
        True, description="true to read feeds with queryAll so deletions arrive (true/false)"
    )
    pubsub_url: str = Field(
        "",
        description="the Pub/Sub API endpoint for Change Data Capture, e.g. "
        "https://api.pubsub.salesforce.com:7443 (http:// for a local sandbox; empty: none)",
    )
    pubsub_topic: str = Field(
        "/data/ChangeEvents",
        description="the change-event channel to subscribe to (/data/ChangeEvents, or "
        "/data/<Object>ChangeEvent, or a custom /data/<Name>__chn channel)",
    )
    pubsub_batch: int = Field(
        100, ge=1, le=100, description="events requested at a time (num_requested, 1-100)"
    )
    mode: Literal["push", "poll"] | None = Field(
        None,
        description="push (Change Data Capture, a long-interval poll as safety net) or poll; "
        "empty: push when pubsub_url is set, else poll",
    )
    push_safety_poll_s: float = Field(
        600.0,
        gt=0,
        description="in push mode, seconds between the safety-net polls of the CRM feeds "
        "(one Composite call each: 600 s is 144 calls a day)",
    )
    compare_before_write: bool = Field(
        True,
        description="true to read a record before writing it and skip unchanged writes "
        "(one extra GET per write; false for raw throughput)",
    )

    @field_validator("token_url")
    @classmethod
    def _token_url(cls, value: str | None) -> str | None:
        return http_url(value) if value else None

    @field_validator("pubsub_url")
    @classmethod
    def _pubsub_url(cls, value: str) -> str:
        return http_url(value) if value else ""

    @field_validator("pubsub_topic")
    @classmethod
    def _topic(cls, value: str) -> str:
        if not value.startswith("/data/"):
            raise ValueError("must be a change-event channel such as /data/ChangeEvents")
        return value

    def resolved_mode(self) -> Literal["push", "poll"]:
        """``mode``, or push when a Pub/Sub endpoint is set and poll otherwise."""
        if self.mode is not None:
            return self.mode
        return "push" if self.pubsub_url else "poll"

    @field_validator("api_version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not _VERSION.match(value):
            raise ValueError("must look like v60.0")
        return value

    @field_validator("client_tag")
    @classmethod
    def _tag(cls, value: str) -> str:
        if not _TAG.match(value):
            raise ValueError("must be 1-64 letters, digits, '.', '_' or '-'")
        return value

    @field_validator("echo_field")
    @classmethod
    def _field_name(cls, value: str) -> str:
        if value and not _NAME.match(value):
            raise ValueError("must be a field API name such as bizbus_LastChangeClient__c")
        return value

    @field_validator("integration_user_id")
    @classmethod
    def _user_id(cls, value: str | None) -> str | None:
        if not value:
            return None
        if len(value) not in (15, 18) or not value.isalnum() or not value.startswith("005"):
            raise ValueError("must be a User id (005..., 15 or 18 characters)")
        return value

    def resolved_token_url(self) -> str:
        """The OAuth token endpoint: ``token_url`` or ``<base_url>/services/oauth2/token``."""
        return self.token_url or f"{self.base_url}/services/oauth2/token"
