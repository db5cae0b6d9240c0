"""Settings: pydantic-settings bases read from ``BIZBUS_<SYSTEM>_*`` and start-up validation.

``load_settings`` turns a ValidationError into a ConfigError naming each bad environment
variable and how to fix it, without echoing any value.
"""

from typing import Any, TypeVar

import httpx
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bizbus.connectors.errors import ConfigError
from bizbus.connectors.quota import RateBudget
from bizbus.connectors.retry import RetryPolicy

__all__ = ["BizbusSettings", "ConnectorSettings", "describe_errors", "http_url", "load_settings"]

S = TypeVar("S", bound="BizbusSettings")


class BizbusSettings(BaseSettings):
    """Base of every bizbus settings class; subclasses set ``env_prefix``.

    Field descriptions complete the sentence "set it to ..." in start-up errors.
    """

    model_config = SettingsConfigDict(env_prefix="BIZBUS_", extra="ignore", frozen=True)


class ConnectorSettings(BizbusSettings):
    """HTTP knobs every HTTP connector shares (timeouts, pool, retries, rate budget)."""

    base_url: str = Field(description="the system's API root URL, e.g. https://erp.example.com")
    timeout_s: float = Field(10.0, gt=0, description="seconds to wait for a response (> 0)")
    connect_timeout_s: float = Field(5.0, gt=0, description="seconds to wait for a connection")
    max_connections: int = Field(64, ge=1, description="the connection pool size (>= 1)")
    max_keepalive: int = Field(32, ge=0, description="idle connections kept open (>= 0)")
    retry_attempts: int = Field(
        4, ge=1, description="tries per call, first included (times BIZBUS_RETRY_MAX_ATTEMPTS)"
    )
    retry_max_delay_s: float = Field(
        30.0, gt=0, description="the longest total wait, in seconds, before giving up on a call"
    )
    rate_per_s: float | None = Field(
        None, gt=0, description="calls per second allowed by the system's quota (empty: none)"
    )
    burst: int | None = Field(None, ge=1, description="calls allowed back to back (>= 1)")

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return http_url(value)

    def http_timeout(self) -> httpx.Timeout:
        """Explicit timeouts for the connector's client."""
        return httpx.Timeout(self.timeout_s, connect=self.connect_timeout_s, pool=self.timeout_s)

    def http_limits(self) -> httpx.Limits:
        """Explicit pool limits for the connector's client."""
        return httpx.Limits(
            max_connections=self.max_connections,
            max_keepalive_connections=min(self.max_keepalive, self.max_connections),
        )

    def retry_policy(self) -> RetryPolicy:
        """The per-call HTTP retry policy these settings describe (budget: ``connectors.retry``)."""
        return RetryPolicy(attempts=self.retry_attempts, max_delay=self.retry_max_delay_s)

    def rate_budget(self) -> RateBudget | None:
        """A rate budget, or None when no quota is configured."""
        return RateBudget(self.rate_per_s, self.burst) if self.rate_per_s else None

    def http_options(self) -> dict[str, Any]:
        """Keyword arguments for ``HttpConnector.__init__``."""
        return {
            "timeout": self.http_timeout(),
            "limits": self.http_limits(),
            "retry": self.retry_policy(),
            "budget": self.rate_budget(),
        }


def http_url(value: str) -> str:
    """Check an API URL setting and drop its trailing slash (paths are joined to it).

    Raises:
        ValueError: Not an http(s) URL.
    """
    if not value.startswith(("https://", "http://")):
        raise ValueError("must start with https:// (or http:// for a local sandbox)")
    return value.rstrip("/")


def load_settings(cls: type[S], **values: Any) -> S:
    """Build and validate settings at start-up.

    Args:
        cls: The settings class.
        **values: Explicit values (take precedence over the environment).

    Returns:
        The validated settings.

    Raises:
        ConfigError: One line per bad setting, e.g. ``BIZBUS_CRM_CLIENT_SECRET is missing:
            set it to the connected app's consumer secret``.
    """
    prefix = str(cls.model_config.get("env_prefix", ""))
    try:
        return cls(**values)
    except ValidationError as exc:
        # "from None": a ValidationError repr shows the input values, which may be secrets.
        raise ConfigError(describe_errors(cls, exc, prefix=prefix)) from None


def describe_errors(cls: type[BaseSettings], exc: ValidationError, *, prefix: str) -> str:
    """One line per error naming the environment variable, never its value."""
    lines = []
    for error in exc.errors(include_input=False, include_url=False):
        name = str(error["loc"][0]) if error["loc"] else ""
        field = cls.model_fields.get(name)
        variable = f"{prefix}{name}".upper()
        hint = field.description if field is not None and field.description else None
        if error["type"] == "missing":
            line = f"{variable} is missing"
        elif field is None:
            line = f"{variable} is not a known setting"
        else:
            line = f"{variable} is invalid ({error['msg']})"
        lines.append(f"{line}: set it to {hint}" if hint else line)
    return "; ".join(lines)
