"""`BIZBUS_STOCK_*`: the ERP warehouse shown, the CRM's local date, how CRM writes are batched."""

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bizbus.connectors.errors import ConfigError

__all__ = ["StockSettings", "load_stock_settings"]


class StockSettings(BaseSettings):
    """How ERP stock levels become CRM product availability."""

    model_config = SettingsConfigDict(env_prefix="BIZBUS_STOCK_", extra="ignore")

    warehouse_code: str = Field(
        default="WH",
        min_length=1,
        pattern=r"^[^/%_]+$",
        description="ERP warehouse whose internal locations (`<code>/...`) make up the stock "
        "shown in the CRM.",
    )
    timezone: str = Field(
        default="Asia/Shanghai",
        description="IANA time zone of the CRM's next availability date (a planned finish "
        "becomes this zone's calendar date).",
    )
    batch_max: int = Field(
        default=200,
        ge=1,
        le=1000,
        description="Availability changes written to the CRM together: one lookup call, then "
        "one sObject Collections call per 200 changed products.",
    )
    batch_linger_ms: float = Field(
        default=300.0,
        ge=0,
        description="A batch of availability changes goes once no other came for this long (ms).",
    )
    batch_max_wait_ms: float = Field(
        default=3000.0,
        ge=0,
        description="Longest an availability change waits for others to share its CRM calls (ms).",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {name!r}; use an IANA name") from None
        return name


def load_stock_settings() -> StockSettings:
    """Read `BIZBUS_STOCK_*`, failing with a message that names the bad setting.

    Raises:
        ConfigError: A setting is invalid (the message says which and why).
    """
    try:
        return StockSettings()
    except ValidationError as error:
        problems = "; ".join(
            f"BIZBUS_STOCK_{'_'.join(str(p) for p in e['loc'][:1]).upper()}: {e['msg']}"
            for e in error.errors()
        )
        raise ConfigError(f"stock settings: {problems}") from None
