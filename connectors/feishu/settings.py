"""Settings of the Feishu/Lark connector, read from ``BIZBUS_OA_*`` and checked at start-up.

System: Feishu/Lark Open Platform, approval v4. Auth: a self-built app's ``tenant_access_token``
(App ID + App Secret); callbacks are encrypted with the Encrypt Key and carry the Verification
Token. ``load_settings(FeishuSettings)`` names any bad variable and how to fix it, never its value.
"""

import re
from typing import Annotated, Any

import orjson
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from bizbus.connectors.feishu.handlers import HANDLERS, claims_of, code_of
from bizbus.connectors.settings import ConnectorSettings

__all__ = ["FeishuSettings"]

_APPROVAL_CODE = re.compile(r"^[A-Za-z0-9-]{1,64}$")


class FeishuSettings(ConnectorSettings):
    """``BIZBUS_OA_*``: the app's credentials, callback secrets, approval codes and catch-up."""

    model_config = SettingsConfigDict(env_prefix="BIZBUS_OA_")

    base_url: str = Field(
        "https://open.feishu.cn",
        description="the Open Platform root, https://open.feishu.cn or https://open.larksuite.com",
    )
    app_id: str = Field(
        min_length=1, description="the self-built app's App ID (cli_..., Credentials page)"
    )
    app_secret: SecretStr = Field(description="the app's App Secret (Credentials page)")
    encrypt_key: SecretStr = Field(
        description="the Encrypt Key of Events & Callbacks > Encryption strategy (required: "
        "plaintext callbacks are refused)"
    )
    previous_encrypt_key: SecretStr | None = Field(
        None, description="the Encrypt Key being replaced, only while rotating (else empty)"
    )
    verification_token: SecretStr = Field(
        description="the Verification Token of Events & Callbacks > Encryption strategy"
    )
    previous_verification_token: SecretStr | None = Field(
        None, description="the Verification Token being replaced, only while rotating"
    )
    approval_codes: Annotated[list[str], NoDecode] = Field(
        min_length=1,
        description="the approval definition codes to follow, comma-separated or a JSON list "
        "(the code is in the approval admin's URL, e.g. 7C468A54-8745-2245-9675-08B7C63E7A85); "
        "their instances are read as trips unless BIZBUS_OA_HANDLERS names another handler",
    )
    handlers: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description="a JSON object mapping approval definition codes to the handler that reads "
        f"their instances (handlers: {', '.join(sorted(HANDLERS))}), e.g. "
        '{"7C468A54-8745-2245-9675-08B7C63E7A85": "travel"}; its codes are followed too, and '
        "instances of any other definition are ignored (empty: the approval codes are trips)",
    )
    rate_per_s: float | None = Field(
        50.0, gt=0, description="calls per second allowed (instance detail: 50/s per app)"
    )
    burst: int | None = Field(10, ge=1, description="calls allowed back to back (>= 1)")
    webhook_tolerance_s: float = Field(
        300.0, gt=0, description="the allowed callback clock skew in seconds (> 0)"
    )
    replay_ttl_s: float = Field(
        86_400.0,
        gt=0,
        description="seconds an event id or instance status is remembered for dedupe (> 0; "
        "above Feishu's redelivery horizon)",
    )
    catchup_lookback_s: float = Field(
        7 * 86_400.0,
        gt=0,
        description="seconds before the cursor whose started instances catch-up re-reads "
        "(instances decided later than this after filing are missed by catch-up)",
    )
    catchup_rescan_s: float = Field(
        6 * 3600.0,
        gt=0,
        description="seconds between full catch-up passes (every instance of the lookback "
        "fetched again); in between, a pass fetches only new and still-open instances",
    )
    catchup_overlap_s: float = Field(
        300.0, ge=0, description="seconds each catch-up poll re-reads before its cursor (>= 0)"
    )
    page_size: int = Field(
        100, ge=1, le=100, description="instance codes per list page, between 1 and 100"
    )
    detail_concurrency: int = Field(
        8, ge=1, le=50, description="instance details fetched at once during catch-up (1-50)"
    )
    poll_interval_s: float = Field(
        60.0, gt=0, description="seconds between catch-up polls when following (> 0)"
    )

    @field_validator("approval_codes", mode="before")
    @classmethod
    def _split_codes(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    return orjson.loads(text)
                except orjson.JSONDecodeError:
                    raise ValueError("is neither a JSON list nor comma-separated") from None
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("approval_codes")
    @classmethod
    def _codes(cls, value: list[str]) -> list[str]:
        for code in value:
            if not _APPROVAL_CODE.match(code):
                raise ValueError("each code must be letters, digits and '-' (up to 64)")
        return list(dict.fromkeys(value))

    @field_validator("handlers", mode="before")
    @classmethod
    def _read_handlers(cls, value: Any) -> Any:
        if isinstance(value, str):
            if not value.strip():
                return {}
            try:
                value = orjson.loads(value)
            except orjson.JSONDecodeError:
                raise ValueError("is not a JSON object of code to handler") from None
        if not isinstance(value, dict):
            raise ValueError("is not a JSON object of code to handler")
        return value

    @field_validator("handlers")
    @classmethod
    def _handlers(cls, value: dict[str, str]) -> dict[str, str]:
        for code, handler in value.items():
            if not _APPROVAL_CODE.match(code):
                raise ValueError("each code must be letters, digits and '-' (up to 64)")
            if handler not in HANDLERS:
                raise ValueError(
                    f"approval code {code} names no known handler {handler!r}: choose from "
                    f"{', '.join(sorted(HANDLERS))}"
                )
        return value

    def claims(self) -> dict[str, str]:
        """Code → handler of every followed definition (approval codes: the default handler)."""
        return claims_of(self.approval_codes, self.handlers)

    def code_of(self, handler: str) -> str | None:
        """The definition whose instances ``handler`` reads (and bizbus files), if any."""
        return code_of(handler, self.claims())

    def followed_codes(self) -> list[str]:
        """The definitions to subscribe to and catch up on: every claimed one, in order."""
        return list(self.claims())

    def encrypt_keys(self) -> list[SecretStr]:
        """The active Encrypt Keys: current first, then the previous one while rotating."""
        keys = [self.encrypt_key]
        if self.previous_encrypt_key and self.previous_encrypt_key.get_secret_value():
            keys.append(self.previous_encrypt_key)
        return keys

    def verification_tokens(self) -> list[SecretStr]:
        """The accepted Verification Tokens: current, then the previous one while rotating."""
        tokens = [self.verification_token]
        previous = self.previous_verification_token
        if previous and previous.get_secret_value():
            tokens.append(previous)
        return tokens
