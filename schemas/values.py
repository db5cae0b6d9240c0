"""Shared value types of every payload: money, currency codes, identifiers, frozen base model.

Money is a `Decimal` amount plus an ISO 4217 code, never a float. Decimals travel as JSON text
with a decimal pattern (exact, and a contract that refuses `"lots"`), while numbers are still
accepted on input from systems that send them. All payloads are frozen and reject unknown
fields so a typo in a producer fails loudly instead of dropping data.
"""

import re
from decimal import Decimal
from typing import Annotated, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema
from pydantic.config import JsonDict

__all__ = [
    "DECIMAL_PATTERN",
    "EMAIL_PATTERN",
    "ISO_4217_CODES",
    "PERSONAL",
    "PERSONAL_DATA",
    "UNSIGNED_DECIMAL_PATTERN",
    "CurrencyCode",
    "DecimalText",
    "Email",
    "Money",
    "NonEmptyStr",
    "Payload",
    "Quantity",
    "UnsignedDecimalText",
    "is_email",
]

# What `str(Decimal)` writes for a finite value: digits, an optional fraction, an optional
# exponent. We write fixed-point only; the exponent is accepted because Decimal (and Java's
# BigDecimal) may print one, and every v1 record was written by `str(Decimal)`.
DECIMAL_PATTERN = r"^-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$"
UNSIGNED_DECIMAL_PATTERN = r"^[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$"

# Active ISO 4217 alphabetic codes (funds and precious-metal codes left out on purpose).
ISO_4217_CODES: frozenset[str] = frozenset(
    {
        "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
        "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD",
        "CDF", "CHF", "CLP", "CNY", "COP", "CRC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD",
        "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ",
        "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD",
        "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR",
        "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR",
        "MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN",
        "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR",
        "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB",
        "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "UYU", "UZS",
        "VED", "VES", "VND", "VUV", "WST", "XAF", "XCD", "XCG", "XOF", "XPF", "YER", "ZAR", "ZMW",
        "ZWG",
    }
)  # fmt: skip


def _known_currency(code: str) -> str:
    if code not in ISO_4217_CODES:
        raise ValueError(f"{code!r} is not an active ISO 4217 currency code")
    return code


CurrencyCode = Annotated[
    str,
    Field(
        pattern=r"^[A-Z]{3}$",
        description="ISO 4217 alphabetic currency code, e.g. CNY.",
        examples=["CNY"],
    ),
    AfterValidator(_known_currency),
]
"""An active ISO 4217 alphabetic currency code (upper case)."""

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
EMAIL_MAX_LENGTH = 254
Email = Annotated[
    str,
    Field(pattern=EMAIL_PATTERN, max_length=EMAIL_MAX_LENGTH, examples=["wang.lei@example.cn"]),
]
"""An e-mail address (syntax check only; delivery is the mail system's business)."""


def is_email(value: str) -> bool:
    """Whether `value` passes the `Email` check (mappings drop an address that would not)."""
    return len(value) <= EMAIL_MAX_LENGTH and re.fullmatch(EMAIL_PATTERN, value) is not None


NonEmptyStr = Annotated[str, Field(min_length=1)]
"""A string with at least one character (identifiers, names)."""

PERSONAL_DATA = "x-personal-data"
"""The JSON Schema annotation of a field holding personal data (see `schemas.personal`)."""
PERSONAL: JsonDict = {PERSONAL_DATA: True}
"""`Field(json_schema_extra=PERSONAL)` tags a payload field as personal data."""


def _decimal_text(value: Decimal) -> str:
    # Fixed-point (no "1E+2" for an accounting system to misread) and no negative zero. str()
    # already is fixed-point for nearly every amount, and it is the one cheap path (hot path).
    text = str(value)
    if "E" in text or text.startswith("-0"):
        return format(abs(value) if value.is_zero() else value, "f")
    return text


_AS_TEXT = PlainSerializer(_decimal_text, return_type=str, when_used="json")

DecimalText = Annotated[
    Decimal,
    Field(allow_inf_nan=False),
    _AS_TEXT,
    WithJsonSchema({"type": "string", "pattern": DECIMAL_PATTERN}),
]
"""An exact decimal, JSON text such as ``"-12.50"``; a JSON number is accepted on input."""

UnsignedDecimalText = Annotated[
    Decimal,
    Field(ge=0, allow_inf_nan=False),
    _AS_TEXT,
    WithJsonSchema({"type": "string", "pattern": UNSIGNED_DECIMAL_PATTERN}),
]
"""A non-negative exact decimal, JSON text such as ``"12.50"`` (percentages, quantities)."""

Quantity = UnsignedDecimalText
"""A non-negative decimal quantity (pieces, kilograms, metres)."""


class Payload(BaseModel):
    """Base of every event payload: frozen, unknown fields rejected.

    Subclasses set `EVENT_TYPE` (``bizbus.<domain>.<entity>.<past-verb>.v<major>``) and
    implement `entity_key`, the canonical key used as CloudEvents `subject` and Kafka key.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=False)

    EVENT_TYPE: ClassVar[str] = ""

    def entity_key(self) -> str:
        """Return the canonical key of the entity this payload is about."""
        raise NotImplementedError


class Money(BaseModel):
    """An amount of money: exact decimal plus its currency."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    amount: DecimalText = Field(
        description="Exact decimal amount in the currency's major unit (yuan, not fen).",
        examples=["12800.00"],
    )
    currency: CurrencyCode = Field(description="ISO 4217 currency code of the amount.")
