"""Settings of the Odoo connector, read from ``BIZBUS_ERP_*`` and checked at start-up.

System: Odoo 14-19 external API (``/jsonrpc`` ``execute_kw``) or JSON-2 (19+). Auth: the
integration user's API key (or, for JSON-RPC only, its password). ``load_settings(OdooSettings)``
names any bad variable and how to fix it, never its value.
"""

import re
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails
from pydantic_settings import SettingsConfigDict

from bizbus.connectors.settings import ConnectorSettings

__all__ = ["OdooSettings"]

_DB = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,62}$")
_TOKEN = re.compile(r"^[A-Za-z0-9_\-]{24,256}$")


class OdooSettings(ConnectorSettings):
    """``BIZBUS_ERP_*``: where Odoo is, who we log in as, and how to poll and write."""

    model_config = SettingsConfigDict(env_prefix="BIZBUS_ERP_")

    base_url: str = Field(
        description="the Odoo server's root URL, e.g. https://erp.example.com (no path)"
    )
    db: str = Field(min_length=1, description="the Odoo database name, e.g. bizbus")
    login: str = Field(min_length=1, description="the integration user's login, e.g. bizbus")
    api_key: SecretStr | None = Field(
        None,
        description="the integration user's API key (Preferences > Account Security > New API Key)",
    )
    password: SecretStr | None = Field(
        None,
        description="the integration user's password (JSON-RPC only; prefer BIZBUS_ERP_API_KEY)",
    )
    protocol: Literal["jsonrpc", "json2"] = Field(
        "jsonrpc", description="jsonrpc (Odoo 14-19) or json2 (Odoo 19+, needs an API key)"
    )
    uid: int | None = Field(
        None, ge=1, description="the integration user's id (empty: asked from Odoo at start)"
    )
    page_size: int = Field(
        200, ge=1, le=5000, description="rows per polling search_read, between 1 and 5000"
    )
    poll_overlap_s: float = Field(
        60.0,
        ge=1.0,
        description="seconds each poll re-reads before its watermark (>= 1: write_date has "
        "second precision and late commits keep their transaction's start time)",
    )
    poll_interval_s: float = Field(
        5.0, gt=0, description="seconds between two polls of one feed once caught up (> 0)"
    )
    trip_leave_type: str = Field(
        "TRIP",
        min_length=1,
        description="the code (or exact name) of the business-trip time-off type, e.g. TRIP",
    )
    lookup_cache_size: int = Field(
        4096, ge=0, description="reference ids (customers, products, employees) kept in memory"
    )
    mode: Literal["push", "poll"] | None = Field(
        None,
        description="push (Odoo automation rules post webhooks to /webhooks/odoo/<token>, "
        "a long-interval poll as safety net; needs BIZBUS_ERP_WEBHOOK_TOKEN) or poll; "
        "empty: push when BIZBUS_ERP_WEBHOOK_TOKEN is set, else poll",
    )
    push_safety_poll_s: float = Field(
        600.0,
        gt=0,
        description="in push mode, seconds between the safety-net polls of each ERP feed "
        "(600 s is 144 calls a day per feed)",
    )
    webhook_token: SecretStr | None = Field(
        None,
        description="the secret last segment of the webhook URL Odoo posts to "
        "(/webhooks/odoo/<token>; Odoo signs nothing), at least 24 characters, e.g. from "
        "python -c 'import secrets; print(secrets.token_urlsafe(32))'",
    )

    @field_validator("db")
    @classmethod
    def _db(cls, value: str) -> str:
        if not _DB.match(value):
            raise ValueError("must be a database name: letters, digits, '_', '.', '-'")
        return value

    @model_validator(mode="after")
    def _credentials(self) -> "OdooSettings":
        # Reported as a missing api_key so the start-up message names BIZBUS_ERP_API_KEY
        # (JSON-2 takes no password).
        if self.api_key is None and (self.password is None or self.protocol == "json2"):
            raise ValidationError.from_exception_data(
                type(self).__name__,
                [InitErrorDetails(type="missing", loc=("api_key",), input=None)],
            )
        return self

    @field_validator("webhook_token")
    @classmethod
    def _webhook_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _TOKEN.match(value.get_secret_value()):
            raise ValueError("must be at least 24 URL-safe characters (letters, digits, '-', '_')")
        return value

    @model_validator(mode="after")
    def _push_needs_token(self) -> "OdooSettings":
        # Reported as a missing webhook_token so the message names BIZBUS_ERP_WEBHOOK_TOKEN.
        if self.mode == "push" and self.webhook_token is None:
            raise ValidationError.from_exception_data(
                type(self).__name__,
                [InitErrorDetails(type="missing", loc=("webhook_token",), input=None)],
            )
        return self

    def resolved_mode(self) -> Literal["push", "poll"]:
        """``mode``, or push when the webhook token is set (Odoo can post) and poll otherwise."""
        if self.mode is not None:
            return self.mode
        return "push" if self.webhook_token is not None else "poll"

    def secret(self) -> SecretStr:
        """The credential sent to Odoo: the API key, else the password."""
        secret = self.api_key if self.api_key is not None else self.password
        if secret is None:  # pragma: no cover - the validator above rules it out
            raise ValueError("no Odoo credential configured")
        return secret
