"""Settings of the DingTalk connector, read from ``BIZBUS_OA_*`` and checked at start-up.

System: DingTalk open platform (新版服务端 API ``api.dingtalk.com`` plus the contact lookup of
``oapi.dingtalk.com``). Auth: an internal app's access token (AppKey + AppSecret). Callbacks
are signed with the subscription's Token and sealed with its 43-character EncodingAESKey.
``load_settings(DingTalkSettings)`` names any bad variable and how to fix it, never its value.
"""

import re
from typing import Annotated, Any, Literal

import orjson
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from bizbus.connectors.dingtalk.crypto import aes_key_bytes
from bizbus.connectors.feishu.handlers import HANDLERS, claims_of, code_of
from bizbus.connectors.settings import ConnectorSettings, http_url

__all__ = ["DingTalkSettings"]

_PROCESS_CODE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _json_or_list(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                return orjson.loads(text)
            except orjson.JSONDecodeError:
                raise ValueError("is neither a JSON list nor comma-separated") from None
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


class DingTalkSettings(ConnectorSettings):
    """``BIZBUS_OA_*`` with ``BIZBUS_OA_DIALECT=dingtalk``: app, callback secrets, process codes."""

    model_config = SettingsConfigDict(env_prefix="BIZBUS_OA_")

    base_url: str = Field(
        "https://api.dingtalk.com", description="the new server API root, https://api.dingtalk.com"
    )
    legacy_base_url: str = Field(
        "https://oapi.dingtalk.com",
        description="the legacy API root for user lookups (topapi/v2/user/get), "
        "https://oapi.dingtalk.com",
    )
    app_key: str = Field(
        min_length=1, description="the DingTalk internal app's AppKey (Client ID, ding...)"
    )
    app_secret: SecretStr = Field(description="the DingTalk app's AppSecret (Client Secret)")
    corp_id: str | None = Field(
        None,
        description="the organisation's CorpId (ding...), accepted as the owner of callbacks "
        "sealed for the organisation rather than the app (else empty)",
    )
    callback_token: SecretStr = Field(
        description="the Token of the app's event subscription (HTTP push), which signs callbacks"
    )
    aes_key: SecretStr = Field(
        description="the 43-character aes_key (EncodingAESKey) of the app's event subscription"
    )
    process_codes: Annotated[list[str], NoDecode] = Field(
        min_length=1,
        description="the approval form process codes to follow (PROC-...), comma-separated or a "
        "JSON list; their instances are read as trips unless BIZBUS_OA_HANDLERS names another "
        "handler",
    )
    handlers: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description="a JSON object mapping process codes to the handler that reads their "
        f"instances (handlers: {', '.join(sorted(HANDLERS))}); instances of other forms are "
        "ignored (empty: the process codes are trips)",
    )
    mode: Literal["http", "stream"] = Field(
        "http",
        description="how events arrive: http (DingTalk pushes to /webhooks/dingtalk) or stream "
        "(the worker holds DingTalk's Stream-mode WebSocket; no public URL needed)",
    )
    stream_safety_poll_s: float = Field(
        300.0, gt=0, description="seconds between safety-net catch-up polls in stream mode (> 0)"
    )
    rate_per_s: float | None = Field(
        20.0, gt=0, description="calls per second allowed (DingTalk: 20/s per app per API)"
    )
    burst: int | None = Field(10, ge=1, description="calls allowed back to back (>= 1)")
    webhook_tolerance_s: float = Field(
        300.0, gt=0, description="the allowed callback clock skew in seconds (> 0)"
    )
    replay_ttl_s: float = Field(
        86_400.0, gt=0, description="seconds an event or instance state is remembered (> 0)"
    )
    catchup_lookback_s: float = Field(
        7 * 86_400.0,
        gt=0,
        description="seconds before the cursor whose started instances catch-up re-reads",
    )
    catchup_overlap_s: float = Field(
        300.0, ge=0, description="seconds each catch-up poll re-reads before its cursor (>= 0)"
    )
    page_size: int = Field(
        20, ge=1, le=20, description="instance ids per list page, between 1 and 20"
    )
    detail_concurrency: int = Field(
        4, ge=1, le=20, description="instance details fetched at once during catch-up (1-20)"
    )
    poll_interval_s: float = Field(
        60.0, gt=0, description="seconds between catch-up polls when following (> 0)"
    )

    @field_validator("legacy_base_url")
    @classmethod
    def _legacy_url(cls, value: str) -> str:
        return http_url(value)

    @field_validator("aes_key")
    @classmethod
    def _aes_key(cls, value: SecretStr) -> SecretStr:
        aes_key_bytes(value.get_secret_value())  # raises ValueError naming the rule only
        return value

    @field_validator("process_codes", mode="before")
    @classmethod
    def _split_codes(cls, value: Any) -> Any:
        return _json_or_list(value)

    @field_validator("process_codes")
    @classmethod
    def _codes(cls, value: list[str]) -> list[str]:
        for code in value:
            if not _PROCESS_CODE.match(code):
                raise ValueError("each code must be letters, digits, '_' and '-' (up to 64)")
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
            if not _PROCESS_CODE.match(code):
                raise ValueError("each code must be letters, digits, '_' and '-' (up to 64)")
            if handler not in HANDLERS:
                raise ValueError(
                    f"process code {code} names no known handler {handler!r}: choose from "
                    f"{', '.join(sorted(HANDLERS))}"
                )
        return value

    def claims(self) -> dict[str, str]:
        """Code → handler of every followed form (process codes: the default handler)."""
        return claims_of(self.process_codes, self.handlers)

    def code_of(self, handler: str) -> str | None:
        """The form whose instances ``handler`` reads (and bizbus files), if any."""
        return code_of(handler, self.claims())

    def followed_codes(self) -> list[str]:
        """The forms to catch up on: every claimed one, in order."""
        return list(self.claims())

    def owner_keys(self) -> list[str]:
        """Whom callbacks may be sealed for: the app key, then the corp id when set."""
        return [self.app_key, *([self.corp_id] if self.corp_id else [])]
