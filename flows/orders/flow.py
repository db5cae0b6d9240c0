"""CRM orders activated → confirmed ERP sales orders; the ERP order number goes back on the order.

`src.crm.order` (activated, unsent, not our echo) → `biz.sales.order` → `cmd.erp.sales-order` →
Odoo `sale.order` by `client_order_ref`, xref `order:<id>` → `cmd.crm.order`. Key: the CRM order
id, one deal id. Idempotent: placed digests, Odoo upserts. Missing customer/product: parked until
announced (`/bizbus/parked-orders/`). Dead letters: bad records or items, refused writes.

Cancellations: a sent order turned `Cancelled` → OrderCancellationRequestedV1 on the same
`cmd.erp.sales-order` key (so after its placement) → `action_cancel` while nothing is made or
delivered, else refused → OrderCancelledV1 on `biz.sales.order` and the CRM status or the
refusal's note through `cmd.crm.order`. A cancelled ERP order is not cancelled again.

Changes: a sent order (number written back, still `Activated`) whose lines or delivery date
differ from the fingerprint last sent → OrderChangeRequestedV1 on the same key → the ERP order's
lines and date written while nothing is made or delivered (only what differs), else refused →
OrderChangedV1 and the refusal's note (or a cleared note) through `cmd.crm.order`.

Discounts (`approvals`, on with `BIZBUS_DISCOUNT_LIMITS`): a request priced beyond its
salesperson's limit is held until the OA decides; approved, it is placed; rejected, the CRM
order is set `Rejected` with the approver's comment.
"""

import logging
from collections.abc import Mapping
from typing import Any, ClassVar

import orjson

from bizbus.connectors.base import SinkCommand
from bizbus.connectors.errors import MappingError
from bizbus.connectors.odoo import (
    LinesLockedError,
    OdooConnector,
    cancel_sale_order,
    sale_order_changes,
    sale_order_progress,
    write_sale_order,
)
from bizbus.connectors.salesforce import SalesforceConnector, format_soql, select
from bizbus.flows.context import FlowDeps
from bizbus.flows.orders import parking
from bizbus.flows.orders.approvals import APPROVALS, DECISIONS, REQUESTS, DiscountApprovals
from bizbus.flows.orders.cancellation import (
    CancelDecision,
    cancel_decision,
    cancellation_request,
    refusal_note,
)
from bizbus.flows.orders.change import (
    ChangeDecision,
    change_decision,
    change_fingerprint,
    change_refusal_note,
    change_request,
    is_sent,
)
from bizbus.flows.orders.discounts import DiscountSettings, load_discount_settings
from bizbus.flows.orders.mapping import (
    line_payloads,
    order_digest,
    order_update,
    placed_order,
    product_ids,
    sale_order_payload,
    sales_order_command,
    skip_reason,
)
from bizbus.flows.orders.reconcile import orders_reconciler
from bizbus.flows.runtime import spec
from bizbus.flows.runtime.reconcile import Reconciler
from bizbus.flows.runtime.record import RawRecord
from bizbus.flows.runtime.spec import Declaration, Emit, Output, Put, StageSpec
from bizbus.flows.runtime.tracing import trace_fields
from bizbus.flows.shared import (
    CRM,
    ERP,
    OA,
    Owners,
    captured,
    crm_batch,
    crm_feed,
    crm_order_deal,
    decode,
    decode_as,
    follow_up,
    is_echo,
)
from bizbus.schemas import (
    TOPICS,
    CustomerUpsertedV1,
    DiscountDecidedV1,
    Envelope,
    OrderCancellationRequestedV1,
    OrderCancelledV1,
    OrderChangedV1,
    OrderChangeRequestedV1,
    OrderPlacedV1,
    OrderStatus,
    OrderUpdateRequestedV1,
    ProductModelChangedV1,
    SalesOrderRequestedV1,
    make_event,
)

log = logging.getLogger("bizbus.flows.orders")
SOURCE = "bizbus://flows/orders"
COMMANDS = "cmd.erp.sales-order"
PARKED_PATH = "/bizbus/parked-orders/"
SWEEP_S = 1.0
IN_FLIGHT_S = 30.0
# Each table is written by the stage on the topic whose partition count it shares.
PLACED = spec.TableSpec("crm-orders-placed", TOPICS["src.crm.order"].partitions)
PARKED = spec.TableSpec("parked-sales-orders", TOPICS[COMMANDS].partitions)
# Sent orders: CRM order id → fingerprint of the lines and date last sent (change.py).
SENT = spec.TableSpec("crm-orders-sent", TOPICS["src.crm.order"].partitions)
OUTCOMES = {"cancel": "cancelled", "already": "already_cancelled", "refuse": "refused"}
CHANGES = {"change": "changed", "unchanged": "unchanged", "refuse": "refused"}


async def fetch_products(crm: SalesforceConnector, ids: list[str]) -> dict[str, dict[str, Any]]:
    """Return the Product2 rows (code and name) of `ids`, by id."""
    if not ids:
        return {}
    soql = select("Product2", ["Id", "ProductCode", "Name"],
                  where=format_soql("Id IN {ids}", ids=ids))  # fmt: skip
    return {str(row["Id"]): row for row in await crm.query(soql)}


async def missing_references(erp: OdooConnector, command: SalesOrderRequestedV1) -> list[str]:
    """Return what the ERP lacks for `command`: `customer:<ref>`, `product:<code>` labels."""
    missing = []
    if await erp.lookups.find("res.partner", "ref", command.customer_ref) is None:
        missing.append(f"customer:{command.customer_ref}")
    for code in sorted({line.model_code for line in command.lines}):
        if await erp.lookups.find("product.product", "default_code", code) is None:
            missing.append(f"product:{code}")
    return missing


class OrdersFlow:
    """CRM orders to ERP sales orders, with parking while reference data is missing."""

    TABLES: ClassVar[tuple[spec.TableSpec, ...]] = (PLACED, PARKED, SENT, APPROVALS, DECISIONS)

    def __init__(
        self,
        deps: FlowDeps,
        tables: spec.Tables | None = None,
        *,
        discounts: DiscountSettings | None = None,
    ) -> None:
        self.deps = deps
        tables = tables or spec.fresh_tables(*self.TABLES)
        self.approvals = DiscountApprovals(deps, discounts or load_discount_settings(), tables)
        self.placed = tables[PLACED.name]
        self.parked = tables[PARKED.name]
        self.sent = tables[SENT.name]
        self.owners = Owners()
        self.read_orders = crm_feed(deps.connections, "Order")
        # Parked orders re-sent and not back yet: key → (attempts, when); this worker only.
        self.in_flight: dict[str, tuple[int, float]] = {}
        parked = self.parked
        deps.metrics.gauge(
            "bizbus_parked_orders",
            "CRM orders parked until their customer or product reaches the ERP (this worker's).",
            lambda: len(parked),
        )

    def declare(self) -> Declaration:
        """Return the order feed, the stages, the parking sweep and the parked view."""
        feed = spec.Feed("crm.order", "crm", "src.crm.order", self.read_orders,
                         correlate=lambda record: crm_order_deal(record.id),
                         batch=crm_batch(self.deps.connections, "Order"),
                         entity="Order")  # fmt: skip
        approvals: tuple[StageSpec, ...] = ()
        if self.approvals.settings.enabled:
            approvals = (
                StageSpec("discount-approval-requests", REQUESTS, self.approvals.on_request, OA),
                StageSpec("discount-decisions", "src.oa.approval-instance",
                          self.approvals.on_instance, OA),
            )  # fmt: skip
        return Declaration(
            stages=(
                *approvals,
                StageSpec("crm-orders", "src.crm.order", self.on_order, CRM),
                StageSpec("sales-order-requests", "biz.sales.order", self.on_placed, pure=True),
                StageSpec("erp-sales-orders", COMMANDS, self.on_sales_order, ERP),
                # Broadcast: a parked order lives in one worker's table partitions; each worker
                # wakes its own, wherever the announcement was consumed.
                StageSpec(
                    "parked-orders-customers",
                    "biz.sales.customer",
                    self.on_customer,
                    broadcast=True,
                ),
                StageSpec(
                    "parked-orders-products",
                    "biz.catalog.product-model",
                    self.on_product,
                    broadcast=True,
                ),
            ),
            timers=(spec.TimerSpec("parked-orders-sweep", SWEEP_S, self.sweep),),
            pages=(spec.PageSpec(PARKED_PATH, self.parked_page, name="parked-orders"),),
            feeds=(feed,),
            emits=("biz.sales.order", COMMANDS, "cmd.crm.order", REQUESTS),
        )

    def reconcilers(self) -> tuple[Reconciler, ...]:
        """Return the orders flow's part of `bizbus reconcile orders`: placements."""
        grace = self.deps.settings.reconcile_grace_s
        return (orders_reconciler(self.deps.connections, self.placed_of, grace_s=grace,
                                  now=self.deps.now),)  # fmt: skip

    async def on_order(self, record: RawRecord) -> list[Output]:
        """A polled CRM order → OrderPlacedV1, once per content (remembered once acked)."""
        event, raw = captured(record, self.deps.keys, entity="Order")
        row = raw.record
        crm = await self.deps.connections.crm()
        if raw.change_type != "delete" and not is_echo(crm, row):
            sent = self.placed.get(str(row.get("Id"))) is not None
            cancel = cancellation_request(row, sent=sent, now=self.deps.now())
            if cancel is not None:
                return self._request_cancel(cancel, event)
        if raw.change_type != "delete" and is_sent(row):
            # Before the echo test: an item edit bumps the order without changing its last
            # editor, which may be us; the fingerprint tells a change from an echo instead.
            return await self._request_change(crm, row, event)
        if skip_reason(row, deleted=raw.change_type == "delete") or is_echo(crm, row):
            return []
        order = await self.placed_of(crm, row)
        digest = order_digest(order)
        if self.placed.get(order.crm_order_id) == digest:
            return []  # the same order content was placed already (re-poll, redelivery)
        placed = make_event(order, source=SOURCE, correlationid=crm_order_deal(order.crm_order_id),
                            causationid=event.id, origin="crm", **trace_fields(event))  # fmt: skip
        fingerprint = change_fingerprint(row)
        return [
            Emit(placed),
            Put(self.placed, order.crm_order_id, digest),
            Put(self.sent, order.crm_order_id, fingerprint),
        ]

    async def _request_change(
        self, crm: SalesforceConnector, row: Mapping[str, Any], cause: Envelope[Any]
    ) -> list[Output]:
        """Ask the ERP to take a sent order's new lines or date, once per content."""
        key, fingerprint = str(row["Id"]), change_fingerprint(row)
        known = self.sent.get(key)
        if known == fingerprint:
            return []  # re-read, or our own write-back coming back
        if known is None:
            # Sent before fingerprints were kept (or not by this flow): its content is the baseline.
            return [Put(self.sent, key, fingerprint)]
        order = await self.placed_of(crm, row)
        command = change_request(order, str(row["ErpOrderRef__c"]), self.deps.now())
        request = follow_up(command, cause, source=SOURCE, origin="crm")
        return [Emit(request), Put(self.sent, key, fingerprint)]

    def _request_cancel(
        self, command: OrderCancellationRequestedV1, cause: Envelope[Any]
    ) -> list[Output]:
        """Ask the ERP to cancel, once per cancelled order (remembered once acked)."""
        marker = f"cancel:{command.erp_order_ref or ''}"
        if self.placed.get(command.crm_order_id) == marker:
            return []  # asked already (re-poll, redelivery)
        request = follow_up(command, cause, source=SOURCE, origin="crm")
        return [Emit(request), Put(self.placed, command.crm_order_id, marker)]

    async def placed_of(self, crm: SalesforceConnector, row: Mapping[str, Any]) -> OrderPlacedV1:
        """Return the placed order of an activated CRM order row (its items attached)."""
        [details] = await crm.query(
            select("Order", ["Id", "Account.Name", "Account.AccountNumber",
                             "Account.ErpCustomerRef__c"],
                   where=format_soql("Id = {i}", i=str(row["Id"])))
        )  # fmt: skip
        account = {**(details.get("Account") or {}), "Id": row.get("AccountId")}
        return placed_order(
            row,
            account=account,
            owner=await self.owners.of(crm, row),
            products=await fetch_products(crm, product_ids(row)),
        )

    async def on_placed(self, record: RawRecord) -> list[Output]:
        """A placed order → the ERP sales order it asks for."""
        event = decode(record, self.deps.keys)
        if not isinstance(event.data, OrderPlacedV1):
            return []  # status changes share the topic; they are the fulfilment flow's
        command = sales_order_command(event.data)
        return [Emit(follow_up(command, event, source=SOURCE, origin="crm"))]

    async def on_sales_order(self, record: RawRecord) -> list[Output]:
        """Create and confirm the ERP sales order, or park the command while data is missing."""
        received = decode(record, self.deps.keys)
        if isinstance(received.data, OrderCancellationRequestedV1):
            return await self.on_cancellation(received, received.data)
        if isinstance(received.data, OrderChangeRequestedV1):
            return await self.on_change(received, received.data)
        if isinstance(received.data, DiscountDecidedV1):
            return self.approvals.on_decided(received, received.data)
        event, command = decode_as(
            record, SalesOrderRequestedV1, "a sales-order request", self.deps.keys
        )
        key = command.crm_order_id
        entry = self.parked.get(key)
        if parking.is_retry(record) and (entry is None or entry["event_id"] != event.id):
            return []  # completed or superseded since this retry was sent
        held, gated = await self.approvals.gate(record, event, command)
        if held:
            return gated
        return gated + await self._place(record, event, command, entry)

    async def _place(
        self,
        record: RawRecord,
        event: Envelope[Any],
        command: SalesOrderRequestedV1,
        entry: Mapping[str, Any] | None,
    ) -> list[Output]:
        """Write the ERP sales order, or park the command while reference data is missing."""
        key = command.crm_order_id
        erp = await self.deps.connections.erp()
        missing = await missing_references(erp, command)
        reason = "ERP lacks " + ", ".join(missing)
        result = None
        if not missing:
            try:
                result = await erp.apply(
                    SinkCommand("sale.order", key, sale_order_payload(command),
                                idempotency_key=event.id, correlation_id=event.correlationid)
                )  # fmt: skip
            except MappingError as error:  # reference data vanished between check and write
                missing, reason = ["unknown"], str(error)
            except LinesLockedError:
                # The CRM order changed after the ERP confirmed it, before the ERP's number came
                # back to it: that is a change of a sent order, under the change rule.
                change = OrderChangeRequestedV1(
                    crm_order_id=key, commitment_date=command.commitment_date,
                    lines=command.lines, requested_at=self.deps.now(),
                )  # fmt: skip
                return await self.on_change(event, change)
        if result is None:
            parked = parking.park(entry, record, event_id=event.id, missing=missing,
                                  reason=reason, now=self.deps.clock())  # fmt: skip
            log.warning("CRM order %s parked (attempt %d): %s", key, parked["attempts"], reason)
            return [Put(self.parked, key, parked)]
        name = result.external_ids["name"]
        self.deps.xref.record(f"order:{key}", crm=key, erp=name)
        log.info("CRM order %s is ERP sales order %s (%s)", key, name, result.outcome.value)
        update = Emit(follow_up(order_update(command, name), event, source=SOURCE, origin="erp"))
        return [update] if entry is None else [update, Put(self.parked, key, None)]

    async def on_cancellation(
        self, event: Envelope[Any], command: OrderCancellationRequestedV1
    ) -> list[Output]:
        """Cancel the ERP sales order while nothing is made or delivered; else refuse, say why."""
        key = command.crm_order_id
        erp = await self.deps.connections.erp()
        progress = await sale_order_progress(erp, key)
        name = command.erp_order_ref
        decision = CancelDecision("already")  # no ERP order: parked or never made
        if progress is not None:
            name = str(progress.order["name"])
            decision = cancel_decision(progress.order, progress.productions, progress.pickings)
        if decision.action == "cancel" and progress is not None:
            await cancel_sale_order(erp, int(progress.order["id"]))
        log.info(
            "CRM order %s cancellation: ERP order %s %s%s",
            key,
            name,
            OUTCOMES[decision.action],
            f" ({decision.reason})" if decision.reason else "",
        )
        answer = OrderCancelledV1(crm_order_id=key, erp_order_ref=name,
                                  outcome=OUTCOMES[decision.action],
                                  reason=decision.reason, decided_at=self.deps.now())  # fmt: skip
        if decision.reason is not None:
            update = OrderUpdateRequestedV1(
                crm_order_id=key, integration_note=refusal_note(decision.reason)
            )
        else:
            update = OrderUpdateRequestedV1(crm_order_id=key, status=OrderStatus.CANCELLED)
        outputs: list[Output] = [
            Emit(follow_up(answer, event, source=SOURCE, origin="erp")),
            Emit(follow_up(update, event, source=SOURCE, origin="erp")),
        ]
        if self.parked.get(key) is not None and decision.action != "refuse":
            outputs.append(Put(self.parked, key, None))  # cancelled before it reached the ERP
        if decision.action != "refuse":
            outputs += self.approvals.forget(key)  # cancelled while its discount was pending
        return outputs

    async def on_change(
        self, event: Envelope[Any], command: OrderChangeRequestedV1
    ) -> list[Output]:
        """Write what differs on the ERP order while nothing is made or delivered; else refuse."""
        key = command.crm_order_id
        erp = await self.deps.connections.erp()
        progress = await sale_order_progress(erp, key)
        name, decision = command.erp_order_ref, ChangeDecision("refuse", "the ERP has no order")
        if progress is not None:
            name, order_id = str(progress.order["name"]), int(progress.order["id"])
            try:
                values = await sale_order_changes(erp, erp.lookups, progress.order,
                                                  line_payloads(command.lines),
                                                  command.commitment_date)  # fmt: skip
            except MappingError as error:  # a product the ERP does not know
                values, decision = {}, ChangeDecision("refuse", str(error))
            else:
                decision = change_decision(progress.order, progress.productions,
                                           progress.pickings, differs=bool(values))  # fmt: skip
            if decision.action == "change":
                await write_sale_order(erp, order_id, values)
        log.info(
            "CRM order %s change: ERP order %s %s%s",
            key,
            name,
            CHANGES[decision.action],
            f" ({decision.reason})" if decision.reason else "",
        )
        answer = OrderChangedV1(crm_order_id=key, erp_order_ref=name,
                                outcome=CHANGES[decision.action], reason=decision.reason,
                                decided_at=self.deps.now())  # fmt: skip
        outputs: list[Output] = [Emit(follow_up(answer, event, source=SOURCE, origin="erp"))]
        if decision.action != "unchanged":
            # A refusal says why on the CRM order; an applied change clears an older refusal.
            note = change_refusal_note(decision.reason) if decision.reason else ""
            update = OrderUpdateRequestedV1(crm_order_id=key, integration_note=note)
            outputs.append(Emit(follow_up(update, event, source=SOURCE, origin="erp")))
        return outputs

    async def on_customer(self, record: RawRecord) -> list[Output]:
        """A customer announced → re-send the orders parked waiting for it."""
        event = decode(record, self.deps.keys)
        if not isinstance(event.data, CustomerUpsertedV1):
            return []
        return self._wake(f"customer:{event.data.ref}")

    async def on_product(self, record: RawRecord) -> list[Output]:
        """A product model announced → re-send the orders parked waiting for it."""
        event = decode(record, self.deps.keys)
        if not isinstance(event.data, ProductModelChangedV1):
            return []
        return self._wake(f"product:{event.data.model_code}")

    async def sweep(self) -> list[Output]:
        """Re-send the parked orders whose backoff is over; forget re-sends that came back."""
        now = self.deps.clock()
        due = [
            emit
            for key, entry in list(self.parked.items())
            if entry and parking.is_due(entry, now)
            for emit in self._resend(key, entry)
        ]
        for key in [k for k in self.in_flight if self.parked.get(k) is None]:
            del self.in_flight[key]
        return due

    async def parked_page(
        self, request: spec.WebRequest, publish: spec.Publish
    ) -> spec.WebResponse:
        """`GET /bizbus/parked-orders/`: what each parked order waits for (no payloads)."""
        summaries = {key: parking.summary(entry) for key, entry in self.parked.items() if entry}
        return spec.WebResponse(200, orjson.dumps(summaries))

    def _wake(self, label: str) -> list[Output]:
        woken: list[Output] = []
        for key, entry in list(self.parked.items()):
            if entry and parking.waits_for(entry, label):
                log.info("retrying parked CRM order %s: %s arrived", key, label)
                woken += self._resend(key, entry)
        return woken

    def _resend(self, key: str, entry: Mapping[str, Any]) -> list[Output]:
        attempts, now = int(entry["attempts"]), self.deps.clock()
        sent = self.in_flight.get(key)
        if sent and sent[0] == attempts and now - sent[1] < IN_FLIGHT_S:
            return []  # already re-sent, its outcome is not back yet
        self.in_flight[key] = (attempts, now)
        event, marker = parking.retry_event(entry, self.deps.keys)
        return [Emit(event, COMMANDS, marker)]
