"""Discount approvals: which orders need one, the OA form, the decision, and the held order."""

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from bizbus.connectors.base import ApplyResult, Outcome
from bizbus.connectors.errors import ConfigError
from bizbus.connectors.feishu.decisions import decision_of, fill_form
from bizbus.connectors.feishu.forms import parse_detail
from bizbus.flows.order_updates.flow import order_fields
from bizbus.flows.orders import OrdersFlow
from bizbus.flows.orders.discounts import (
    DiscountSettings,
    approval_form,
    approval_request,
    approval_uuid,
    decision_of_status,
    discounted_lines,
    exceeds,
    lines_fingerprint,
    load_discount_settings,
    order_of_form,
    rejection_note,
)
from bizbus.flows.shared import decode
from bizbus.schemas import (
    DiscountApprovalRequestedV1,
    DiscountDecidedV1,
    Money,
    OrderLine,
    OrderUpdateRequestedV1,
    SalesOrderRequestedV1,
    SalesRep,
)
from tests.unit.test_flows_fakes import FakeErp, deps, emitted, event_record, settle

ORDER = "801000000000042AAA"
MODEL, ERP_PRICE = "HL-SM-7.5", Decimal(6800)
COMMANDS = "cmd.erp.sales-order"


def line(price: str, *, discount: str = "0", no: int = 1, code: str = MODEL) -> OrderLine:
    return OrderLine(line_no=no, model_code=code, product_name=code, quantity=Decimal(2),
                     unit_price=Money(amount=Decimal(price), currency="CNY"),
                     discount_percent=Decimal(discount))  # fmt: skip


def command(*lines: OrderLine, role: str | None = "销售经理") -> SalesOrderRequestedV1:
    owner = SalesRep(user_id="005000000000001AAA", name="张伟", email="zhang.wei@hengli-demo.cn",
                     role=role)  # fmt: skip
    return SalesOrderRequestedV1(
        crm_order_id=ORDER, crm_order_number="00000123", customer_ref="C10001",
        order_date=date(2026, 12, 2), currency="CNY", lines=lines or (line("5800"),), owner=owner,
    )  # fmt: skip


def settings(**limits: Any) -> DiscountSettings:
    return DiscountSettings(limits={"销售经理": Decimal(10), "销售代表": Decimal(5)},
                            applicant="f8ca557e", **limits)  # fmt: skip


# -- which orders need an approval ------------------------------------------------------------


def test_no_limits_means_nothing_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LIMITS", "DEFAULT_LIMIT", "APPLICANT"):
        monkeypatch.delenv(f"BIZBUS_DISCOUNT_{name}", raising=False)
    loaded = load_discount_settings()
    assert not loaded.enabled and loaded.limit_for("销售经理") is None


def test_a_role_gets_its_limit_and_an_unknown_one_the_default() -> None:
    assert settings().limit_for("销售经理") == Decimal(10)
    assert settings().limit_for("实习生") is None  # no default: not checked
    assert settings(default_limit=Decimal(3)).limit_for("实习生") == Decimal(3)
    assert settings(default_limit=Decimal(3)).limit_for(None) == Decimal(3)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BIZBUS_DISCOUNT_LIMITS": '{"销售代表": 5}'}, "required once limits are set"),
        ({"BIZBUS_DISCOUNT_LIMITS": "5"}, "BIZBUS_DISCOUNT_LIMITS"),
        ({"BIZBUS_DISCOUNT_LIMITS": '{"销售代表": 120}', "BIZBUS_DISCOUNT_APPLICANT": "x"},
         "from 0 to 100"),
    ],
)  # fmt: skip
def test_bad_discount_settings_stop_start_up(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=message):
        load_discount_settings()


def test_a_line_below_the_erp_price_by_more_than_the_limit_needs_an_approval() -> None:
    lines = discounted_lines([line("5800"), line("6800", no=2)], {MODEL: ERP_PRICE})
    assert [(item.line_no, item.below_percent) for item in lines] == [(1, Decimal("14.71"))]
    assert exceeds(lines, Decimal(10)) and not exceeds(lines, Decimal(15))


def test_the_line_discount_counts_and_a_price_at_the_limit_passes() -> None:
    lines = discounted_lines([line("6800", discount="10")], {MODEL: ERP_PRICE})
    assert lines[0].net_price == Decimal("6120.00") and lines[0].below_percent == Decimal(10)
    assert not exceeds(lines, Decimal(10))


def test_a_model_the_erp_has_no_price_for_is_not_judged() -> None:
    assert discounted_lines([line("1")], {}) == ()
    assert discounted_lines([line("7000")], {MODEL: ERP_PRICE}) == ()  # above the list price


# -- idempotency: one OA instance per order content -----------------------------------------


def test_the_uuid_follows_the_order_and_its_lines_only() -> None:
    first = lines_fingerprint(command(line("5800")))
    assert first == lines_fingerprint(command(line("5800.00"), role="销售代表"))
    assert first != lines_fingerprint(command(line("5700")))
    assert approval_uuid(ORDER, first) == approval_uuid(ORDER, first)
    assert approval_uuid(ORDER, first) != approval_uuid(
        ORDER, lines_fingerprint(command(line("1")))
    )


# -- the approval form and the decision ------------------------------------------------------


def test_the_form_tells_the_approver_the_lines_without_e_mail_addresses() -> None:
    order = command(line("5800"))
    request = approval_request(
        order, discounted_lines(order.lines, {MODEL: ERP_PRICE}), Decimal(10)
    )
    form = approval_form(request)
    assert form["limit"] == "10%" and form["salesperson"] == "张伟 (销售经理)"
    assert form["lines"] == "1. HL-SM-7.5 x 2: 5800.00 CNY vs ERP 6800 (-14.71%)"
    assert "@" not in "".join(form.values())
    widgets = [{"custom_id": key, "value": value} for key, value in form.items()]
    assert order_of_form(widgets) == (ORDER, request.fingerprint)
    assert order_of_form(widgets[:2]) is None


def test_feishu_form_is_typed_by_the_definition() -> None:
    definition = ('[{"id": "widget_order", "custom_id": "order", "type": "input"},'
                  ' {"id": "widget_lines", "custom_id": "lines", "type": "textarea"}]')  # fmt: skip
    assert fill_form(definition, {"order": "00000123", "widget_lines": "1. x"}) == (
        '[{"id":"widget_order","type":"input","value":"00000123"},'
        '{"id":"widget_lines","type":"textarea","value":"1. x"}]'
    )
    with pytest.raises(ConfigError, match="no input or textarea widget 'limit'"):
        fill_form(definition, {"limit": "10%"})


def detail(status: str, timeline: list[dict[str, Any]], comments: Any = ()) -> Any:
    return parse_detail({
        "approval_code": "A-1", "approval_name": "折扣审批", "instance_code": "I-1",
        "status": status, "start_time": "1764640000000", "end_time": "1764643600000",
        "user_id": "f8ca557e", "form": "[]", "task_list": [], "timeline": timeline,
        "comment_list": list(comments),
    })  # fmt: skip


def test_the_decision_carries_the_approvers_comment() -> None:
    steps = [{"type": "START"}, {"type": "REJECT", "comment": " 价格过低 "}]
    rejected = decision_of(detail("REJECTED", steps))
    assert (rejected.status, rejected.comment) == ("REJECTED", "价格过低")
    assert rejected.decided_at == datetime(2025, 12, 2, 2, 46, 40, tzinfo=UTC)
    listed = decision_of(detail("APPROVED", [{"type": "PASS"}], [{"comment": "同意"}]))
    assert listed.comment == "同意"
    assert decision_of(detail("PENDING", [{"type": "START"}])).comment is None


@pytest.mark.parametrize(
    ("status", "decision"),
    [("APPROVED", "approved"), ("REJECTED", "rejected"), ("PENDING", None), ("CANCELED", None),
     ("REVERTED", None)],
)  # fmt: skip
def test_only_an_approval_or_a_rejection_moves_the_held_order(
    status: str, decision: str | None
) -> None:
    assert decision_of_status(status) == decision


def test_the_rejection_note_fits_the_crm_field() -> None:
    assert rejection_note(None) == "Discount rejected in the OA"
    assert rejection_note("价格过低") == "Discount rejected in the OA: 价格过低"
    assert len(rejection_note("很" * 400)) == 255


def test_a_rejection_sets_the_crm_status_and_note() -> None:
    update = OrderUpdateRequestedV1(crm_order_id=ORDER, order_status="Rejected",
                                    integration_note="Discount rejected in the OA")  # fmt: skip
    fields, advances = order_fields(update, None)
    assert fields == {"Status": "Rejected", "IntegrationNote__c": "Discount rejected in the OA"}
    assert not advances


# -- the held order in the orders flow -----------------------------------------------------


def erp() -> FakeErp:
    created = ApplyResult(Outcome.CREATED, {"odoo_id": "7", "name": "S00042"})
    fake = FakeErp({"product.product": {1: {"default_code": MODEL, "list_price": 6800.0}}},
                   apply=lambda command: created)  # fmt: skip
    fake.known[("res.partner", "ref", "C10001")] = 5
    fake.known[("product.product", "default_code", MODEL)] = 1
    return fake


def decided(request: DiscountApprovalRequestedV1, decision: str, comment: str = "") -> Any:
    return event_record(
        DiscountDecidedV1(crm_order_id=ORDER, fingerprint=request.fingerprint,
                          decision=decision, comment=comment or None, oa_instance_code="I-1",
                          decided_at=datetime(2026, 12, 2, tzinfo=UTC)),
        COMMANDS, origin="oa",
    )  # fmt: skip


async def held_order(fake: FakeErp) -> tuple[OrdersFlow, Any, DiscountApprovalRequestedV1]:
    flow = OrdersFlow(deps(erp=fake), discounts=settings())
    record = event_record(command(line("5800")), COMMANDS)
    [request] = await settle(await flow.on_sales_order(record))
    assert isinstance(request.data, DiscountApprovalRequestedV1)
    return flow, record, request.data


async def test_a_discounted_order_is_held_once_and_placed_once_approved() -> None:
    fake = erp()
    flow, record, request = await held_order(fake)
    assert request.limit_percent == Decimal(10) and fake.applied == []
    assert await flow.on_sales_order(record) == []  # redelivered while pending: asks nothing

    [released] = await settle(flow.approvals.on_decided(*_decoded(decided(request, "approved"))))
    assert isinstance(released.data, SalesOrderRequestedV1)
    assert released.id == decode(record, None).id  # the held request itself, sent again
    outputs = await flow.on_sales_order(event_record(released.data, COMMANDS))
    assert len(fake.applied) == 1 and emitted(outputs)[0].data.erp_order_ref
    assert flow.approvals.on_decided(*_decoded(decided(request, "approved"))) == []


async def test_a_rejected_discount_sets_the_crm_order_rejected_and_places_nothing() -> None:
    fake = erp()
    flow, record, request = await held_order(fake)
    [update] = await settle(flow.approvals.on_decided(*_decoded(decided(request, "rejected",
                                                                        "价格过低"))))  # fmt: skip
    assert update.data == OrderUpdateRequestedV1(
        crm_order_id=ORDER, order_status="Rejected",
        integration_note="Discount rejected in the OA: 价格过低",
    )  # fmt: skip
    assert await flow.on_sales_order(record) == [] and fake.applied == []


async def test_an_order_within_the_limit_or_without_limits_goes_straight_on() -> None:
    for flow, fake in [
        (OrdersFlow(deps(erp=(within := erp())), discounts=settings()), within),
        (OrdersFlow(deps(erp=(off := erp())), discounts=DiscountSettings()), off),
    ]:
        price = "6300" if fake is within else "100"
        outputs = await flow.on_sales_order(event_record(command(line(price)), COMMANDS))
        assert len(fake.applied) == 1
        assert not any(isinstance(e.data, DiscountApprovalRequestedV1) for e in emitted(outputs))


def _decoded(record: Any) -> tuple[Any, DiscountDecidedV1]:
    event = decode(record, None)
    return event, event.data


async def test_a_changed_order_drops_the_old_hold_and_a_late_decision_releases_nothing() -> None:
    fake = erp()
    flow, _, request = await held_order(fake)
    await settle(await flow.on_sales_order(event_record(command(line("6300")), COMMANDS)))
    assert len(fake.applied) == 1 and flow.approvals.held.get(ORDER) is None
    assert flow.approvals.on_decided(*_decoded(decided(request, "approved"))) == []
