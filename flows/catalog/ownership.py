"""Who owns each synced product field, and what a conflicting edit leads to (`BIZBUS_CATALOG_*`).

Each synced field has one system of record; the other system only receives it. `ownership` maps
a field's bizbus name to its owner and its name in each system; an owner is accepted only where
the command contracts can carry the field from it (checked at start-up, ConfigError otherwise).
`conflict_policy` decides what an edit by a non-owner leads to: `owner-wins` writes the owner's
value back once, `last-writer-wins` carries the edit to the owner; `conflicts_to=oa` asks people
in the OA instead (approved: take the edit, rejected: keep the owner's value).
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bizbus.connectors.errors import ConfigError

__all__ = [
    "CARRIED_FROM",
    "DEFAULT_OWNERSHIP",
    "CatalogSettings",
    "ConflictPolicy",
    "FieldRule",
    "Owner",
    "load_catalog_settings",
]

Owner = Literal["crm", "erp"]
ConflictPolicy = Literal["owner-wins", "last-writer-wins"]
CrmObject = Literal["Product2", "PricebookEntry"]


class FieldRule(BaseModel):
    """One synced field: its system of record and its name in each system."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    owner: Owner = Field(description="System of record of the field.")
    erp: str = Field(min_length=1, description="Field of the ERP product.template.")
    crm: str = Field(min_length=1, description="Field of the CRM object.")
    crm_object: CrmObject = Field(
        default="Product2", description="CRM object holding it (list price: PricebookEntry)."
    )
    kind: Literal["text", "money", "bool"] = Field(
        default="text", description="How values are compared: text, money (2 decimals), bool."
    )


DEFAULT_OWNERSHIP: dict[str, FieldRule] = {
    "name": FieldRule(owner="erp", erp="name", crm="Name"),
    "revision": FieldRule(owner="erp", erp="x_model_revision", crm="ModelRevision__c"),
    "uom": FieldRule(owner="erp", erp="uom_name", crm="QuantityUnitOfMeasure"),
    "active": FieldRule(owner="erp", erp="active", crm="IsActive", kind="bool"),
    "list_price": FieldRule(
        owner="erp", erp="list_price", crm="UnitPrice", crm_object="PricebookEntry", kind="money"
    ),
    "description": FieldRule(owner="crm", erp="description_sale", crm="Description"),
}
"""ERP owns model data and price; the CRM owns the marketing text (DESIGN §5)."""

# Fields a command contract can carry from each owner to the other system:
# ProductUpsertRequestedV1 + PriceBookEntryUpsertRequestedV1 (ERP → CRM),
# ProductModelUpdateRequestedV1 (CRM → ERP).
CARRIED_FROM: dict[Owner, frozenset[str]] = {
    "erp": frozenset({"name", "revision", "uom", "active", "list_price"}),
    "crm": frozenset({"description"}),
}
_REQUIRED = ("name", "revision", "uom", "list_price")  # the ERP → CRM contracts need them


class CatalogSettings(BaseSettings):
    """`BIZBUS_CATALOG_*`: field ownership, conflict policy, write-log and storm limits."""

    model_config = SettingsConfigDict(env_prefix="BIZBUS_CATALOG_", extra="ignore")

    ownership: dict[str, FieldRule] = Field(
        default_factory=lambda: dict(DEFAULT_OWNERSHIP),
        description="Synced fields as JSON: name → {owner, erp, crm, crm_object, kind}.",
    )
    conflict_policy: ConflictPolicy = Field(
        default="owner-wins", description="owner-wins or last-writer-wins."
    )
    conflicts_to: Literal["owner", "oa"] = Field(
        default="owner",
        description="Who settles a field conflict: owner (the conflict policy, at once) or oa "
        "(an approval in the OA definition BIZBUS_OA_HANDLERS maps to `conflict`: approved "
        "takes the edit to the owner, rejected writes the owner's value back; nothing is "
        "written meanwhile).",
    )
    conflict_applicant: str | None = Field(
        default=None,
        description="Feishu user_id that files conflict approvals (its direct leader decides); "
        "required with conflicts_to=oa.",
    )
    write_log_ttl_s: float = Field(
        default=3600.0, gt=0, description="How long a write of ours is recognised as an echo."
    )
    storm_max_writes: int = Field(
        default=20, ge=1, description="Writes to one record per storm window before we stop."
    )
    storm_window_s: float = Field(default=60.0, gt=0, description="Storm window in seconds.")
    price_book: str = Field(
        default="Standard Price Book", min_length=1, description="CRM price book of list prices."
    )
    pricelist_code: str = Field(
        default="LIST", min_length=1, description="Code of the ERP list price in price events."
    )
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$", description="ERP currency.")
    price_batch_max: int = Field(
        default=400,
        ge=1,
        le=1000,
        description="Price changes written to the CRM together: one Composite lookup call, "
        "then one sObject Collections call per 200 writes.",
    )
    price_batch_linger_ms: float = Field(
        default=300.0,
        ge=0,
        description="A batch of price changes goes once no other came for this long (ms).",
    )
    price_batch_max_wait_ms: float = Field(
        default=3000.0,
        ge=0,
        description="Longest a price change waits for others to share its CRM calls (ms).",
    )

    @field_validator("ownership")
    @classmethod
    def _carried(cls, rules: dict[str, FieldRule]) -> dict[str, FieldRule]:
        unknown = sorted(set(rules) - CARRIED_FROM["erp"] - CARRIED_FROM["crm"])
        if unknown:
            raise ValueError(f"unknown synced field(s) {unknown}")
        missing = [name for name in _REQUIRED if name not in rules]
        if missing:
            raise ValueError(f"field(s) {missing} are required by the product contracts")
        for name, rule in rules.items():
            if name not in CARRIED_FROM[rule.owner]:
                raise ValueError(
                    f"{name!r} cannot be owned by the {rule.owner.upper()}: no command carries "
                    f"it from there (fields it may own: {sorted(CARRIED_FROM[rule.owner])})"
                )
        return rules

    @model_validator(mode="after")
    def _applicant_for_oa(self) -> "CatalogSettings":
        if self.conflicts_to == "oa" and not self.conflict_applicant:
            raise ValueError("conflict_applicant: required with conflicts_to=oa (a user_id)")
        return self

    def owner(self, field: str) -> Owner:
        """Return the system of record of `field`."""
        return self.ownership[field].owner

    def fields_of(self, obj: CrmObject) -> dict[str, FieldRule]:
        """Return the synced fields held by a CRM object."""
        return {name: rule for name, rule in self.ownership.items() if rule.crm_object == obj}


def load_catalog_settings() -> CatalogSettings:
    """Read `BIZBUS_CATALOG_*`, failing with a message that names the bad setting.

    Raises:
        ConfigError: A setting is invalid (the message says which and why).
    """
    try:
        return CatalogSettings()
    except ValidationError as error:
        problems = "; ".join(
            f"BIZBUS_CATALOG_{'_'.join(str(p) for p in e['loc'][:1]).upper()}: {e['msg']}"
            for e in error.errors()
        )
        raise ConfigError(f"catalog settings: {problems}") from None
