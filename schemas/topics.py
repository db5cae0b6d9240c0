"""The topic catalog, declared once, with a `<topic>.dlq` dead-letter topic for each topic.

`src.*` raw feeds, `biz.*` canonical events, `cmd.*` commands to sinks.

Keys are canonical entity keys (the CloudEvents `subject`); topics that hold state are compacted.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from bizbus.schemas import payloads as p
from bizbus.schemas.values import Payload

__all__ = [
    "DLQ_SUFFIX",
    "TOPICS",
    "TOPIC_NAME_PATTERN",
    "TopicKind",
    "TopicSpec",
    "dlq_for",
    "source_topic",
    "topic_for",
]

TOPIC_NAME_PATTERN = r"^(src|biz|cmd)(\.[a-z][a-z0-9-]*){2,}(\.dlq)?$"
_TOPIC_NAME_RE = re.compile(TOPIC_NAME_PATTERN)
_DAY_MS = 24 * 3600 * 1000
DLQ_SUFFIX = ".dlq"

TopicKind = Literal["src", "biz", "cmd", "dlq"]


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One Kafka topic: name, partitioning, retention and the event types it carries.

    Attributes:
        name: Topic name (lowercase, dots between segments, hyphens inside, no underscores).
        kind: `src`, `biz`, `cmd` or `dlq`.
        partitions: Partition count; records of one key always land in one partition.
        compacted: True when the topic holds state (latest record per key wins).
        key: What the record key is (the canonical entity key of its events).
        event_types: CloudEvents types the topic may carry.
        description: One line for people and for the AsyncAPI document.
        dead_letter_of: For a `dlq` topic, the topic whose failures it holds.
        retention_days: How long records are kept (compacted topics keep the latest per key).
    """

    name: str
    kind: TopicKind
    partitions: int
    compacted: bool
    key: str
    event_types: tuple[str, ...]
    description: str
    dead_letter_of: str | None = None
    retention_days: int = field(default=7)

    def __post_init__(self) -> None:
        if not _TOPIC_NAME_RE.match(self.name) or "_" in self.name:
            raise ValueError(f"topic name {self.name!r} breaks the naming rule")
        if self.kind != "dlq" and self.name.split(".", 1)[0] != self.kind:
            raise ValueError(f"topic {self.name!r} does not start with its kind {self.kind!r}")

    def config(self) -> dict[str, str]:
        """Return the topic-level Kafka configuration to create the topic with."""
        policy = "compact" if self.compacted else "delete"
        settings = {"cleanup.policy": policy}
        if not self.compacted:
            settings["retention.ms"] = str(self.retention_days * _DAY_MS)
        return settings


def dlq_for(topic: str) -> str:
    """Return the dead-letter topic of a consumed topic: ``<topic>.dlq``.

    Pure naming, so the worker can use it on physical names too (a configured prefix, a
    test's own topic); the catalog declares the `.dlq` twin of every topic it lists.

    Raises:
        ValueError: The topic is itself a dead-letter topic (dead letters are not re-dead-lettered).
    """
    if topic.endswith(DLQ_SUFFIX):
        raise ValueError(f"{topic!r} is a dead-letter topic; it has no dead-letter topic")
    return topic + DLQ_SUFFIX


def _types(*models: type[Payload]) -> tuple[str, ...]:
    return tuple(model.EVENT_TYPE for model in models)


# Only feeds a flow writes: a declared topic nobody writes is noise in the contract and on the
# cluster. A new feed adds its entity here in the change that adds its writer.
_SOURCE_FEEDS = {
    "crm": ("lead", "account", "product", "price-book-entry", "order"),
    "erp": ("product", "sale-order", "mrp-production", "picking", "invoice", "stock-quant"),
    "oa": ("approval-instance",),
}


def _source_topics() -> list[TopicSpec]:
    return [
        TopicSpec(
            name=f"src.{system}.{entity}",
            kind="src",
            partitions=3,
            compacted=False,
            key="<object>:<record id> in the source system",
            event_types=_types(p.SourceRecordCapturedV1),
            description=f"Raw {entity} records read from the {system.upper()}, untouched.",
        )
        for system, entities in _SOURCE_FEEDS.items()
        for entity in entities
    ]


def _biz(
    name: str, key: str, description: str, *models: type[Payload], compacted: bool = False
) -> TopicSpec:
    return TopicSpec(name, "biz", 6, compacted, key, _types(*models), description)


def _cmd(name: str, key: str, description: str, *models: type[Payload]) -> TopicSpec:
    return TopicSpec(name, "cmd", 6, False, key, _types(*models), description)


_BIZ = [
    _biz("biz.hr.travel", "OA approval instance code", "OA travel approvals and revocations.",
         p.TravelApprovedV1, p.TravelRevokedV1),
    _biz("biz.hr.business-trip", "OA approval instance code", "ERP/HR business-trip records.",
         p.BusinessTripRecordedV1, compacted=True),
    _biz("biz.sales.lead", "CRM lead id", "Leads captured in the CRM.", p.LeadCapturedV1),
    _biz("biz.sales.account", "CRM account id", "CRM accounts (customer master).",
         p.AccountUpsertedV1, compacted=True),
    _biz("biz.sales.customer", "customer number (ERP ref)", "ERP customers.",
         p.CustomerUpsertedV1, compacted=True),
    _biz("biz.sales.order", "CRM order id", "CRM orders placed and their status.",
         p.OrderPlacedV1, p.OrderStatusChangedV1, p.OrderCancelledV1, p.OrderChangedV1),
    _biz("biz.sales.sales-order", "ERP sales order number", "ERP sales orders (latest state).",
         p.SalesOrderUpsertedV1, compacted=True),
    _biz("biz.catalog.product-model", "product model code", "ERP product models and revisions.",
         p.ProductModelChangedV1, compacted=True),
    _biz("biz.catalog.product", "product model code", "Edits of CRM-owned product fields.",
         p.ProductEditedV1),
    _biz("biz.catalog.field-conflict", "product model code",
         "Edits of synced product fields by a system that does not own them, the verdict, and "
         "what people decided in the OA when asked.",
         p.FieldConflictDetectedV1, p.FieldConflictDecidedV1),
    _biz("biz.pricing.price", "<price list code>:<model code>", "ERP list prices.",
         p.PriceChangedV1, compacted=True),
    _biz("biz.pricing.price-book-entry", "<price book id>:<model code>",
         "CRM price-book entries.", p.PriceBookEntryChangedV1, compacted=True),
    _biz("biz.production.manufacturing-order", "ERP manufacturing order number",
         "ERP manufacturing orders planned and progressing.",
         p.ManufacturingOrderPlannedV1, p.ManufacturingOrderProgressedV1),
    _biz("biz.inventory.stock", "<warehouse code>:<model code>", "Stock level per warehouse.",
         p.StockChangedV1, compacted=True),
    _biz("biz.logistics.shipment", "ERP delivery number", "Shipments dispatched.",
         p.ShipmentDispatchedV1),
    _biz("biz.finance.invoice", "ERP invoice number", "Customer invoices posted.",
         p.InvoicePostedV1),
    _biz("biz.ops.sla-watch", "<SLA rule>:<record key>",
         "Steps of records under a business-SLA rule.", p.SlaStepObservedV1),
    _biz("biz.ops.sla-alert", "<SLA rule>:<record key>",
         "Business-SLA breaches and their clearing.", p.SlaBreachedV1, p.SlaClearedV1),
]  # fmt: skip

_CMD = [
    _cmd("cmd.erp.business-trip", "OA approval instance code",
         "Create or cancel ERP/HR business-trip records.", p.BusinessTripRequestedV1),
    _cmd("cmd.erp.customer", "CRM account id", "Upsert ERP customers.",
         p.CustomerUpsertRequestedV1),
    _cmd("cmd.erp.sales-order", "CRM order id",
         "Create ERP sales orders for CRM orders (held until a discount is approved), change or "
         "cancel them (one order's in order).",
         p.SalesOrderRequestedV1, p.OrderCancellationRequestedV1, p.OrderChangeRequestedV1,
         p.DiscountDecidedV1),
    _cmd("cmd.erp.product-model", "product model code",
         "Write CRM-owned product fields to the ERP.", p.ProductModelUpdateRequestedV1),
    _cmd("cmd.oa.approval-instance", "CRM order id (a discount), product model code (a conflict)",
         "Create OA approval instances that ask people to decide: a discounted order, a catalog "
         "field conflict.",
         p.DiscountApprovalRequestedV1, p.ConflictDecisionRequestedV1),
    _cmd("cmd.crm.order", "CRM order id", "Write ERP order number and status on CRM orders.",
         p.OrderUpdateRequestedV1),
    _cmd("cmd.crm.product", "product model code", "Write ERP-owned product fields to the CRM.",
         p.ProductUpsertRequestedV1),
    _cmd("cmd.crm.price-book-entry", "<price book name>:<model code>",
         "Write ERP list prices into CRM price books.", p.PriceBookEntryUpsertRequestedV1),
]  # fmt: skip


def _with_dead_letters(topics: list[TopicSpec]) -> dict[str, TopicSpec]:
    catalog: dict[str, TopicSpec] = {}
    for topic in topics:
        catalog[topic.name] = topic
        dlq = TopicSpec(
            name=dlq_for(topic.name),
            kind="dlq",
            partitions=1,
            compacted=False,
            key=topic.key,
            event_types=topic.event_types,
            description=f"Dead letters of {topic.name}: the original record plus error headers.",
            dead_letter_of=topic.name,
            retention_days=30,
        )
        catalog[dlq.name] = dlq
    return catalog


TOPICS: Mapping[str, TopicSpec] = MappingProxyType(
    _with_dead_letters([*_source_topics(), *_BIZ, *_CMD])
)
"""Every topic bizbus uses, by name (dead-letter topics included)."""

_HOME = {
    event_type: topic.name
    for topic in TOPICS.values()
    if topic.kind in ("biz", "cmd")
    for event_type in topic.event_types
}


def topic_for(event_type: str) -> str:
    """Return the `biz.*` or `cmd.*` topic an event type is published to.

    Raises:
        KeyError: The type has no single home topic (unknown, or a raw feed: use
            `source_topic`).
    """
    try:
        return _HOME[event_type]
    except KeyError:
        raise KeyError(
            f"no single topic for {event_type!r}; raw records go to source_topic(system, entity)"
        ) from None


def source_topic(system: str, entity: str) -> str:
    """Return the `src.<system>.<entity>` topic of a raw feed.

    Raises:
        KeyError: No such feed is declared.
    """
    name = f"src.{system}.{entity}"
    if name not in TOPICS:
        raise KeyError(f"no raw feed {name!r} is declared in schemas.topics")
    return name
