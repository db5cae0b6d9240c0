"""Business payloads, one module per domain; `ALL_PAYLOADS` lists every registered model."""

from bizbus.schemas.payloads.approvals import (
    ConflictDecisionRequestedV1,
    DiscountApprovalRequestedV1,
    DiscountDecidedV1,
    DiscountedLine,
    FieldConflictDecidedV1,
)
from bizbus.schemas.payloads.catalog import (
    FieldConflictDetectedV1,
    PriceBookEntryChangedV1,
    PriceChangedV1,
    ProductEditedV1,
    ProductModelChangedV1,
)
from bizbus.schemas.payloads.commands import (
    BusinessTripRequestedV1,
    CustomerUpsertRequestedV1,
    OrderCancellationRequestedV1,
    OrderChangeRequestedV1,
    OrderUpdateRequestedV1,
    PriceBookEntryUpsertRequestedV1,
    ProductModelUpdateRequestedV1,
    ProductUpsertRequestedV1,
    SalesOrderRequestedV1,
)
from bizbus.schemas.payloads.common import Address, Employee, SalesRep
from bizbus.schemas.payloads.customers import AccountUpsertedV1, CustomerUpsertedV1, LeadCapturedV1
from bizbus.schemas.payloads.hr import (
    BusinessTripRecordedV1,
    TravelApprovedV1,
    TravelRevokedV1,
    TravelStatus,
)
from bizbus.schemas.payloads.monitoring import SlaBreachedV1, SlaClearedV1, SlaStepObservedV1
from bizbus.schemas.payloads.operations import (
    InvoicePostedV1,
    ManufacturingOrderPlannedV1,
    ManufacturingOrderProgressedV1,
    ShipmentDispatchedV1,
    StockChangedV1,
)
from bizbus.schemas.payloads.orders import (
    OrderCancelledV1,
    OrderChangedV1,
    OrderLine,
    OrderPlacedV1,
    OrderStatus,
    OrderStatusChangedV1,
    SalesOrderLine,
    SalesOrderUpsertedV1,
)
from bizbus.schemas.payloads.source import SourceRecordCapturedV1
from bizbus.schemas.values import Payload

__all__ = [
    "ALL_PAYLOADS",
    "AccountUpsertedV1",
    "Address",
    "BusinessTripRecordedV1",
    "BusinessTripRequestedV1",
    "ConflictDecisionRequestedV1",
    "CustomerUpsertRequestedV1",
    "CustomerUpsertedV1",
    "DiscountApprovalRequestedV1",
    "DiscountDecidedV1",
    "DiscountedLine",
    "Employee",
    "FieldConflictDecidedV1",
    "FieldConflictDetectedV1",
    "InvoicePostedV1",
    "LeadCapturedV1",
    "ManufacturingOrderPlannedV1",
    "ManufacturingOrderProgressedV1",
    "OrderCancellationRequestedV1",
    "OrderCancelledV1",
    "OrderChangeRequestedV1",
    "OrderChangedV1",
    "OrderLine",
    "OrderPlacedV1",
    "OrderStatus",
    "OrderStatusChangedV1",
    "OrderUpdateRequestedV1",
    "PriceBookEntryChangedV1",
    "PriceBookEntryUpsertRequestedV1",
    "PriceChangedV1",
    "ProductEditedV1",
    "ProductModelChangedV1",
    "ProductModelUpdateRequestedV1",
    "ProductUpsertRequestedV1",
    "SalesOrderLine",
    "SalesOrderRequestedV1",
    "SalesOrderUpsertedV1",
    "SalesRep",
    "ShipmentDispatchedV1",
    "SlaBreachedV1",
    "SlaClearedV1",
    "SlaStepObservedV1",
    "SourceRecordCapturedV1",
    "StockChangedV1",
    "TravelApprovedV1",
    "TravelRevokedV1",
    "TravelStatus",
]

ALL_PAYLOADS: tuple[type[Payload], ...] = (
    # OA / HR
    TravelApprovedV1,
    TravelRevokedV1,
    BusinessTripRecordedV1,
    # CRM
    LeadCapturedV1,
    AccountUpsertedV1,
    ProductEditedV1,
    PriceBookEntryChangedV1,
    OrderPlacedV1,
    OrderStatusChangedV1,
    OrderCancelledV1,
    OrderChangedV1,
    # OA approvals
    DiscountApprovalRequestedV1,
    DiscountDecidedV1,
    ConflictDecisionRequestedV1,
    FieldConflictDecidedV1,
    # ERP
    CustomerUpsertedV1,
    ProductModelChangedV1,
    PriceChangedV1,
    FieldConflictDetectedV1,
    SalesOrderUpsertedV1,
    ManufacturingOrderPlannedV1,
    ManufacturingOrderProgressedV1,
    StockChangedV1,
    ShipmentDispatchedV1,
    InvoicePostedV1,
    # commands to sinks
    BusinessTripRequestedV1,
    CustomerUpsertRequestedV1,
    SalesOrderRequestedV1,
    OrderCancellationRequestedV1,
    OrderChangeRequestedV1,
    OrderUpdateRequestedV1,
    ProductUpsertRequestedV1,
    PriceBookEntryUpsertRequestedV1,
    ProductModelUpdateRequestedV1,
    # raw feeds
    SourceRecordCapturedV1,
    # business-SLA monitoring
    SlaStepObservedV1,
    SlaBreachedV1,
    SlaClearedV1,
)
"""Every payload model with an event type, in catalog order."""
