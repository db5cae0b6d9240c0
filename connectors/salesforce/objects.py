"""The Salesforce objects bizbus reads and writes: feed fields, External ID keys, references.

One row per sObject. ``key_field`` is the External ID a ``SinkCommand.external_key`` upserts
by; ``create_only`` fields are sent on create and dropped on update (Salesforce refuses to
change them); ``references`` resolve ``{"Product2": {"ErpProductRef__c": "HL-VMC850"}}`` to an id.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from bizbus.connectors.errors import SchemaError

__all__ = ["OBJECTS", "SYSTEM_FIELDS", "ObjectSpec", "spec_for"]

SYSTEM_FIELDS = ("Id", "IsDeleted", "SystemModstamp", "LastModifiedDate", "LastModifiedById")


@dataclass(frozen=True, slots=True)
class ObjectSpec:
    """How bizbus treats one sObject.

    Attributes:
        name: sObject API name.
        key_field: External ID field used to upsert by ``SinkCommand.external_key``.
        key_fields: Every field an ``external_key`` of the form ``Field=value`` may name.
        fields: Business fields read by ``changes`` (system fields are added).
        create_only: Fields set on create that Salesforce refuses to update.
        references: Relationship name → (id field, parent object) for payload lookups.
    """

    name: str
    key_field: str
    fields: tuple[str, ...]
    key_fields: tuple[str, ...] = ()
    create_only: frozenset[str] = frozenset()
    references: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    def feed_fields(self, echo_field: str) -> tuple[str, ...]:
        """Fields a feed query selects: system fields, the echo hint, then business fields."""
        extra = (echo_field,) if echo_field else ()
        return tuple(dict.fromkeys((*SYSTEM_FIELDS, *extra, *self.fields)))

    def allowed_keys(self) -> tuple[str, ...]:
        """Fields an ``external_key`` may name, ``Id`` included."""
        return ("Id", self.key_field, *self.key_fields)


_REFS_ORDER = {"Account": ("AccountId", "Account"), "Pricebook2": ("Pricebook2Id", "Pricebook2")}

OBJECTS: Mapping[str, ObjectSpec] = MappingProxyType(
    {
        spec.name: spec
        for spec in (
            ObjectSpec(
                "Account", "ErpCustomerRef__c",
                ("Name", "AccountNumber", "Type", "Industry", "BillingStreet", "BillingCity",
                 "BillingState", "BillingPostalCode", "BillingCountry", "Phone", "OwnerId",
                 "ErpCustomerRef__c", "CurrencyIsoCode"),
            ),
            ObjectSpec(
                "Lead", "Id",
                ("CreatedDate", "FirstName", "LastName", "Name", "Company", "Title", "Email",
                 "Phone", "MobilePhone", "City", "LeadSource", "Status", "IsConverted",
                 "ConvertedAccountId", "OwnerId", "CurrencyIsoCode"),
            ),
            ObjectSpec(
                "Product2", "ErpProductRef__c",
                ("Name", "ProductCode", "Description", "Family", "IsActive",
                 "QuantityUnitOfMeasure", "ErpProductRef__c", "ModelRevision__c"),
            ),
            ObjectSpec(
                "Pricebook2", "ErpPricelistRef__c",
                ("Name", "IsActive", "IsStandard", "ErpPricelistRef__c"),
            ),
            ObjectSpec(
                "PricebookEntry", "ErpPriceRef__c",
                ("Pricebook2Id", "Product2Id", "UnitPrice", "IsActive", "UseStandardPrice",
                 "ErpPriceRef__c", "CurrencyIsoCode"),
                create_only=frozenset({"Pricebook2Id", "Product2Id"}),
                references={"Pricebook2": ("Pricebook2Id", "Pricebook2"),
                            "Product2": ("Product2Id", "Product2")},
            ),
            ObjectSpec(
                "Order", "BizbusKey__c",
                ("AccountId", "Name", "Status", "EffectiveDate", "EndDate", "Pricebook2Id",
                 "OrderNumber", "TotalAmount", "PoNumber", "OwnerId", "ErpStatus__c",
                 "ErpOrderNumber__c", "ErpOrderRef__c", "BizbusKey__c", "PriceReviewNeeded__c",
                 "CurrencyIsoCode"),
                key_fields=("ErpOrderRef__c",),
                references=_REFS_ORDER,
            ),
            ObjectSpec(
                "OrderItem", "ErpLineRef__c",
                ("OrderId", "PricebookEntryId", "Product2Id", "OrderItemNumber", "Quantity",
                 "UnitPrice", "ListPrice", "TotalPrice", "Description", "ErpLineRef__c",
                 "PriceReviewNeeded__c", "CurrencyIsoCode"),
                create_only=frozenset({"OrderId", "PricebookEntryId", "Product2Id"}),
                references={"Order": ("OrderId", "Order"),
                            "PricebookEntry": ("PricebookEntryId", "PricebookEntry")},
            ),
        )
    }
)  # fmt: skip


def spec_for(entity: str) -> ObjectSpec:
    """The spec of ``entity`` (exact API name).

    Raises:
        SchemaError: bizbus has no table row for this object.
    """
    try:
        return OBJECTS[entity]
    except KeyError:
        known = ", ".join(sorted(OBJECTS))
        raise SchemaError(
            f"salesforce: unsupported object {entity!r}; use one of {known}"
        ) from None
