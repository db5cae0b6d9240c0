"""Discount limits: which CRM orders need an OA approval before the ERP gets them; pure.

A line's net price (agreed unit price after its line discount) below the ERP's list price by
more than the salesperson's limit (`BIZBUS_DISCOUNT_LIMITS`, by role = the CRM user's title)
holds the order for an approval. The approval's OA uuid comes from the order id and a
fingerprint of its lines, so a redelivery files nothing twice and a decision applies only to
the lines it saw. No limits configured: nothing is checked, orders flow as before.
"""

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any, Literal

import orjson
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bizbus.connectors.errors import ConfigError
from bizbus.schemas import (
    DiscountApprovalRequestedV1,
    DiscountedLine,
    OrderLine,
    SalesOrderRequestedV1,
)

__all__ = [
    "REJECTED_STATUS",
    "DiscountSettings",
    "approval_form",
    "approval_request",
    "approval_uuid",
    "decision_of_status",
    "discounted_lines",
    "exceeds",
    "lines_fingerprint",
    "load_discount_settings",
    "net_price",
    "order_of_form",
    "rejection_note",
]

REJECTED_STATUS = "Rejected"
"""The CRM Order `Status` of an order whose discount the OA turned down (a custom value)."""
_CENT = Decimal("0.01")
_NAMESPACE = uuid.UUID("6f1c2d3e-9a4b-5c6d-8e7f-0a1b2c3d4e5f")  # bizbus discount approvals
_NOTE_MAX = 255
_NOTE = "Discount rejected in the OA"


class DiscountSettings(BaseSettings):
    """`BIZBUS_DISCOUNT_*`: how far below the ERP's price each sales role may sell."""

    model_config = SettingsConfigDict(
        env_prefix="BIZBUS_DISCOUNT_", extra="ignore", env_ignore_empty=True
    )

    limits: Annotated[dict[str, Decimal], NoDecode] = Field(
        default_factory=dict,
        description="JSON object: sales role (the CRM user's Title) → largest percent below the "
        'ERP list price it may sell at without an OA approval, e.g. {"销售代表": 5, '
        '"销售经理": 15}; empty (with no default limit): discounts are not checked.',
    )
    default_limit: Decimal | None = Field(
        default=None,
        ge=0,
        le=100,
        description="Percent for a role not in the limits (empty: such orders are not checked).",
    )
    applicant: str | None = Field(
        default=None,
        description="Feishu user_id that files discount approvals (a sales-operations account; "
        "its direct leader approves, the salesperson is named in the form). Required once "
        "limits are set; the definition is the one BIZBUS_OA_HANDLERS maps to `discount`.",
    )

    @field_validator("limits", mode="before")
    @classmethod
    def _read_limits(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                value = orjson.loads(value) if value.strip() else {}
            except orjson.JSONDecodeError:
                raise ValueError("is not a JSON object of role to percent") from None
        if not isinstance(value, dict):
            raise ValueError("is not a JSON object of role to percent")
        return value

    @field_validator("limits")
    @classmethod
    def _percents(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        for role, limit in value.items():
            if not role.strip() or not Decimal(0) <= limit <= Decimal(100):
                raise ValueError(f"role {role!r}: the limit must be a percent from 0 to 100")
        return value

    @model_validator(mode="after")
    def _applicant_when_on(self) -> "DiscountSettings":
        if self.enabled and not self.applicant:
            raise ValueError("applicant: required once limits are set (a Feishu user_id)")
        return self

    @property
    def enabled(self) -> bool:
        """True when some order may need an approval."""
        return bool(self.limits) or self.default_limit is not None

    def limit_for(self, role: str | None) -> Decimal | None:
        """The limit of a sales role (the default for an unknown one); None: not checked."""
        if role is not None and role in self.limits:
            return self.limits[role]
        return self.default_limit


def load_discount_settings() -> DiscountSettings:
    """Read `BIZBUS_DISCOUNT_*`, failing with a message that names the bad setting.

    Raises:
        ConfigError: A setting is invalid (the message says which and why).
    """
    try:
        return DiscountSettings()
    except ValidationError as error:
        problems = "; ".join(
            f"BIZBUS_DISCOUNT_{str(e['loc'][0]).upper() if e['loc'] else ''}: {e['msg']}"
            for e in error.errors()
        )
        raise ConfigError(f"discount settings: {problems}") from None


def net_price(line: OrderLine) -> Decimal:
    """The unit price a line sells at: the agreed price less its line discount."""
    return line.unit_price.amount * (Decimal(100) - line.discount_percent) / Decimal(100)


def discounted_lines(
    lines: Sequence[OrderLine], erp_prices: Mapping[str, Decimal]
) -> tuple[DiscountedLine, ...]:
    """The lines selling below the ERP's price (models the ERP has no price for are not)."""
    found = []
    for line in lines:
        erp_price = erp_prices.get(line.model_code)
        net = net_price(line)
        if erp_price is None or erp_price <= 0 or net >= erp_price:
            continue
        below = ((erp_price - net) * 100 / erp_price).quantize(_CENT, ROUND_HALF_UP)
        found.append(
            DiscountedLine(line_no=line.line_no, model_code=line.model_code,
                           quantity=line.quantity, net_price=net.quantize(_CENT, ROUND_HALF_UP),
                           erp_price=erp_price, below_percent=below)
        )  # fmt: skip
    return tuple(found)


def exceeds(lines: Sequence[DiscountedLine], limit: Decimal) -> bool:
    """True when a line is further below the ERP's price than `limit` percent."""
    return any(line.below_percent > limit for line in lines)


def lines_fingerprint(command: SalesOrderRequestedV1) -> str:
    """A digest of what an approval decides on: each line's model, quantity and price."""
    rows = sorted(
        (line.line_no, line.model_code, str(line.quantity.normalize()),
         str(line.unit_price.amount.normalize()), str(line.discount_percent.normalize()))
        for line in command.lines
    )  # fmt: skip
    return hashlib.sha256(orjson.dumps([command.currency, rows])).hexdigest()[:32]


def approval_uuid(crm_order_id: str, fingerprint: str) -> str:
    """The OA instance's idempotency uuid: one instance per order content, ever."""
    return str(uuid.uuid5(_NAMESPACE, f"discount:{crm_order_id}:{fingerprint}"))


def approval_request(
    command: SalesOrderRequestedV1, lines: Sequence[DiscountedLine], limit: Decimal
) -> DiscountApprovalRequestedV1:
    """The approval a held order asks the OA for."""
    return DiscountApprovalRequestedV1(
        crm_order_id=command.crm_order_id, crm_order_number=command.crm_order_number,
        customer_ref=command.customer_ref, owner=command.owner, currency=command.currency,
        limit_percent=limit, lines=tuple(lines), fingerprint=lines_fingerprint(command),
    )  # fmt: skip


def _plain(value: Decimal) -> str:
    """``10`` for Decimal("10.00"), never ``1E+1``."""
    return format(value.normalize(), "f")


def approval_form(request: DiscountApprovalRequestedV1) -> dict[str, str]:
    """The OA form's fields (custom id → text) people read to decide; no e-mail addresses."""
    owner = request.owner
    seller = f"{owner.name} ({owner.role})" if owner and owner.role else owner.name if owner else ""
    rows = [
        f"{line.line_no}. {line.model_code} x {_plain(line.quantity)}: "
        f"{line.net_price} {request.currency} vs ERP {line.erp_price} "
        f"(-{line.below_percent}%)"
        for line in request.lines
    ]
    return {
        "order": request.crm_order_number,
        "customer": request.customer_ref,
        "salesperson": seller,
        "limit": f"{_plain(request.limit_percent)}%",
        "lines": "\n".join(rows),
        "crm_order_id": request.crm_order_id,
        "fingerprint": request.fingerprint,
    }


def order_of_form(widgets: Sequence[Mapping[str, Any]]) -> tuple[str, str] | None:
    """The CRM order id and line fingerprint a discount instance's form carries, if both."""
    values = {w.get("custom_id"): w.get("value") for w in widgets}
    order, fingerprint = values.get("crm_order_id"), values.get("fingerprint")
    if isinstance(order, str) and order and isinstance(fingerprint, str) and fingerprint:
        return order, fingerprint
    return None


def decision_of_status(status: str) -> Literal["approved", "rejected"] | None:
    """What an OA status means for the held order; None: nothing yet (pending, withdrawn)."""
    if status == "APPROVED":
        return "approved"
    if status == "REJECTED":
        return "rejected"
    return None


def rejection_note(comment: str | None) -> str:
    """The CRM order's integration note of a rejected discount (the approver's comment)."""
    note = f"{_NOTE}: {comment}" if comment else _NOTE
    return note if len(note) <= _NOTE_MAX else note[: _NOTE_MAX - 1] + "…"
