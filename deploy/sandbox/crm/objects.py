"""Object and field definitions of the sandbox CRM (Salesforce REST API v60.0 sObjects).

Types follow Salesforce's (id, reference, string, picklist, boolean, double, currency, date,
datetime, ...). System fields are read-only; `bizbus_LastChangeClient__c` holds the
`Sforce-Call-Options: client=` of the last write (a sandbox-only field, see README.md).
"""

from dataclasses import dataclass, field

from bizbus.deploy.sandbox.crm.ids import KEY_PREFIXES

__all__ = [
    "CHANGE_CLIENT_FIELD",
    "OBJECTS",
    "FieldDef",
    "ObjectDef",
    "find_object",
]

CHANGE_CLIENT_FIELD = "bizbus_LastChangeClient__c"
TEXT_TYPES = frozenset({"string", "textarea", "picklist", "email", "phone", "url"})
ID_TYPES = frozenset({"id", "reference"})
NUMBER_TYPES = frozenset({"double", "currency", "int", "percent"})


@dataclass(frozen=True)
class FieldDef:
    """One field of an sObject."""

    name: str
    type: str = "string"
    label: str = ""
    createable: bool = True
    updateable: bool = True
    required: bool = False  # on create, unless `default` fills it
    default: object = None
    external_id: bool = False
    unique: bool = False
    reference_to: str | None = None
    picklist: tuple[str, ...] = ()
    restricted: bool = False
    length: int = 255

    @property
    def relationship_name(self) -> str | None:
        """Return the parent relationship name (`AccountId` -> `Account`) of a reference."""
        if self.type != "reference":
            return None
        return self.name[:-2] if self.name.endswith("Id") else self.name.replace("__c", "__r")

    @property
    def sql_type(self) -> str:
        """Return the SQLite column type."""
        if self.type == "boolean" or self.type == "int":
            return "INTEGER"
        if self.type in NUMBER_TYPES:
            return "REAL"
        return "TEXT"


@dataclass(frozen=True)
class ObjectDef:
    """One sObject type: its key prefix and fields (system fields included)."""

    name: str
    label: str
    fields: tuple[FieldDef, ...]
    writable: bool = True
    _by_lower: dict[str, FieldDef] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_lower.update({f.name.lower(): f for f in self.fields})

    @property
    def key_prefix(self) -> str:
        """Return the 3-character id prefix."""
        return KEY_PREFIXES[self.name]

    def field(self, name: str) -> FieldDef | None:
        """Return a field by case-insensitive name, or None."""
        return self._by_lower.get(name.lower())

    def relationship(self, name: str) -> FieldDef | None:
        """Return the reference field behind a relationship name (`Account`), or None."""
        lower = name.lower()
        for candidate in self.fields:
            rel = candidate.relationship_name
            if rel is not None and rel.lower() == lower:
                return candidate
        return None

    @property
    def external_ids(self) -> tuple[FieldDef, ...]:
        """Return the external id fields."""
        return tuple(f for f in self.fields if f.external_id)


def _ro(name: str, type_: str = "string", **kwargs: object) -> FieldDef:
    return FieldDef(name, type_, createable=False, updateable=False, **kwargs)  # type: ignore[arg-type]


def _ext(name: str, *, unique: bool = False) -> FieldDef:
    return FieldDef(name, "string", external_id=True, unique=unique, length=80)


def _ref(name: str, to: str, *, required: bool = False, updateable: bool = True) -> FieldDef:
    return FieldDef(name, "reference", reference_to=to, required=required, updateable=updateable)


_CURRENCY = FieldDef(
    "CurrencyIsoCode", "picklist", default="CNY", picklist=("CNY", "USD", "EUR"), restricted=True
)


def _system() -> tuple[FieldDef, ...]:
    return (
        _ro("Id", "id"),
        _ro("IsDeleted", "boolean"),
        _ro("CreatedDate", "datetime"),
        _ro("CreatedById", "reference", reference_to="User"),
        _ro("LastModifiedDate", "datetime"),
        _ro("LastModifiedById", "reference", reference_to="User"),
        _ro("SystemModstamp", "datetime"),
        _ro(CHANGE_CLIENT_FIELD),
    )


def _object(name: str, label: str, *fields: FieldDef, writable: bool = True) -> ObjectDef:
    return ObjectDef(name, label, _system() + fields, writable=writable)


_LEAD_STATUS = ("Open - Not Contacted", "Working - Contacted", "Closed - Converted",
                "Closed - Not Converted")  # fmt: skip
_ERP_STATUS = ("Confirmed", "Planned", "InProduction", "Shipped", "Invoiced", "Cancelled")

OBJECTS: dict[str, ObjectDef] = {
    obj.name: obj
    for obj in (
        _object(
            "User", "User",
            FieldDef("Username"), FieldDef("FirstName"), FieldDef("LastName"), _ro("Name"),
            FieldDef("Email", "email"), FieldDef("Title"), FieldDef("Department"),
            FieldDef("CompanyName"), FieldDef("IsActive", "boolean", default=True),
            writable=False,
        ),
        _object(
            "Lead", "Lead",
            FieldDef("FirstName", length=40), FieldDef("LastName", required=True, length=80),
            _ro("Name"), FieldDef("Company", required=True), FieldDef("Title"),
            FieldDef("Email", "email"), FieldDef("Phone", "phone"),
            FieldDef("MobilePhone", "phone"), FieldDef("City"), FieldDef("LeadSource", "picklist"),
            FieldDef("Status", "picklist", default=_LEAD_STATUS[0], picklist=_LEAD_STATUS,
                     restricted=True),
            FieldDef("IsConverted", "boolean", default=False),
            _ref("ConvertedAccountId", "Account"), _ref("OwnerId", "User"),
            FieldDef("Description", "textarea", length=32000), _CURRENCY,
        ),
        _object(
            "Account", "Account",
            FieldDef("Name", required=True), FieldDef("AccountNumber", length=40),
            FieldDef("Type", "picklist"), FieldDef("Industry", "picklist"),
            FieldDef("BillingStreet", "textarea"), FieldDef("BillingCity", length=40),
            FieldDef("BillingState", length=80), FieldDef("BillingPostalCode", length=20),
            FieldDef("BillingCountry", length=80), FieldDef("Phone", "phone"),
            FieldDef("Description", "textarea", length=32000), _ref("OwnerId", "User"),
            _ext("ErpCustomerRef__c"), _CURRENCY,
        ),
        _object(
            "Product2", "Product",
            FieldDef("Name", required=True), FieldDef("ProductCode"),
            FieldDef("Description", "textarea", length=4000), FieldDef("Family", "picklist"),
            FieldDef("IsActive", "boolean", default=False),
            FieldDef("QuantityUnitOfMeasure", "picklist"), _ext("ErpProductRef__c"),
            FieldDef("ModelRevision__c", length=40), FieldDef("Available_Quantity__c", "double"),
            FieldDef("Incoming_Quantity__c", "double"),
            FieldDef("Next_Availability_Date__c", "date"), _CURRENCY,
        ),
        _object(
            "Pricebook2", "Price Book",
            FieldDef("Name", required=True), FieldDef("Description"),
            FieldDef("IsActive", "boolean", default=False), _ro("IsStandard", "boolean"),
            _ext("ErpPricelistRef__c"),
        ),
        _object(
            "PricebookEntry", "Price Book Entry",
            _ref("Pricebook2Id", "Pricebook2", required=True, updateable=False),
            _ref("Product2Id", "Product2", required=True, updateable=False),
            _ro("Name"), _ro("ProductCode"),
            FieldDef("UnitPrice", "currency", required=True),
            FieldDef("IsActive", "boolean", default=False),
            FieldDef("UseStandardPrice", "boolean", default=False),
            _ext("ErpPriceRef__c"), _CURRENCY,
        ),
        _object(
            "Order", "Order",
            _ref("AccountId", "Account", required=True), FieldDef("Name", length=80),
            FieldDef("Status", "picklist", required=True, default="Draft",
                     picklist=("Draft", "Activated", "Cancelled", "Rejected"),
                     restricted=True),
            FieldDef("EffectiveDate", "date", required=True), FieldDef("EndDate", "date"),
            _ref("Pricebook2Id", "Pricebook2"), _ro("OrderNumber", length=30),
            _ro("TotalAmount", "currency"), FieldDef("Description", "textarea", length=32000),
            FieldDef("PoNumber", length=80), _ref("OwnerId", "User"),
            FieldDef("ErpStatus__c", "picklist", picklist=_ERP_STATUS),
            FieldDef("ErpOrderNumber__c", length=40), _ext("ErpOrderRef__c"),
            FieldDef("IntegrationNote__c", length=255),
            _ext("BizbusKey__c", unique=True),
            FieldDef("PriceReviewNeeded__c", "boolean", default=False), _CURRENCY,
        ),
        _object(
            "OrderItem", "Order Product",
            _ref("OrderId", "Order", required=True, updateable=False),
            _ref("PricebookEntryId", "PricebookEntry", required=True, updateable=False),
            _ref("Product2Id", "Product2", updateable=False), _ro("OrderItemNumber", length=30),
            FieldDef("Quantity", "double", required=True),
            FieldDef("UnitPrice", "currency", required=True), _ro("ListPrice", "currency"),
            _ro("TotalPrice", "currency"), FieldDef("Description"), _ext("ErpLineRef__c"),
            FieldDef("PriceReviewNeeded__c", "boolean", default=False), _CURRENCY,
        ),
    )
}  # fmt: skip


def find_object(name: str) -> ObjectDef | None:
    """Return an object definition by case-insensitive name, or None."""
    for obj in OBJECTS.values():
        if obj.name.lower() == name.lower():
            return obj
    return None
