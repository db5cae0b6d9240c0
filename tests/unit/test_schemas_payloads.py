"""Payload models: exact money, ISO currencies, aware times, frozen, strict, Chinese intact."""

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from bizbus.schemas import (
    ALL_PAYLOADS,
    EVENT_TYPES,
    Employee,
    Envelope,
    Money,
    OrderLine,
    OrderPlacedV1,
    OrderStatus,
    SalesRep,
    TravelApprovedV1,
)
from bizbus.schemas.envelope import EVENT_TYPE_RE

REP = SalesRep(user_id="005J8000001XyZaIAK", name="李娜")


def _line(**overrides: Any) -> OrderLine:
    fields: dict[str, Any] = {
        "line_no": 1,
        "model_code": "HX-200A",
        "product_name": "高速贴片机 HX-200A",
        "quantity": Decimal(2),
        "unit_price": Money(amount=Decimal("386000.00"), currency="CNY"),
    }
    return OrderLine(**(fields | overrides))


def _order(**overrides: Any) -> OrderPlacedV1:
    fields: dict[str, Any] = {
        "crm_order_id": "801J8000003aBcDIAU",
        "order_number": "00000123",
        "account_id": "001J800000AbCdEIAV",
        "customer_name": "苏州瑞达电子有限公司",
        "owner": REP,
        "order_date": date(2025, 5, 12),
        "currency": "CNY",
        "lines": (_line(),),
        "total_amount": Money(amount=Decimal("772000.00"), currency="CNY"),
        "placed_at": datetime.fromisoformat("2025-05-12T15:20:31+08:00"),
    }
    return OrderPlacedV1(**(fields | overrides))


def test_money_keeps_exact_decimals_through_json() -> None:
    money = Money(amount=Decimal("0.10"), currency="CNY")
    again = Money.model_validate_json(money.model_dump_json())
    assert again.amount == Decimal("0.10")
    assert str(again.amount) == "0.10"


def test_decimals_are_written_as_fixed_point_text_and_read_from_numbers_too() -> None:
    line = OrderLine.model_validate_json(
        '{"line_no": 1, "model_code": "HX-200A", "product_name": "贴片机", "quantity": 2,'
        ' "unit_price": {"amount": 1.5E+3, "currency": "CNY"}, "discount_percent": "5"}'
    )
    assert line.quantity == 2 and line.unit_price.amount == Decimal(1500)
    dumped = line.model_dump(mode="json")
    assert (dumped["quantity"], dumped["unit_price"]["amount"]) == ("2", "1500")
    for amount, text in [("1E+2", "100"), ("-0.00", "0.00"), ("-12.50", "-12.50")]:
        money = Money(amount=Decimal(amount), currency="CNY")
        assert money.model_dump(mode="json")["amount"] == text
    with pytest.raises(ValidationError):
        _line(quantity="lots")


@pytest.mark.parametrize("code", ["RMB", "cny", "XYZ", "CN"])
def test_money_rejects_codes_that_are_not_active_iso_4217(code: str) -> None:
    with pytest.raises(ValidationError):
        Money(amount=Decimal(1), currency=code)


@pytest.mark.parametrize("amount", ["NaN", "Infinity"])
def test_money_rejects_non_finite_amounts(amount: str) -> None:
    with pytest.raises(ValidationError):
        Money(amount=Decimal(amount), currency="CNY")


def test_naive_datetimes_are_rejected() -> None:
    with pytest.raises(ValidationError, match="placed_at"):
        _order(placed_at=datetime(2025, 5, 12, 15, 20))  # noqa: DTZ001 - the point of the test


def test_unknown_fields_are_rejected() -> None:
    data = _order().model_dump(mode="json") | {"discount_code": "X"}
    with pytest.raises(ValidationError, match="discount_code"):
        OrderPlacedV1.model_validate(data)


def test_payloads_are_frozen() -> None:
    order = _order()
    with pytest.raises(ValidationError):
        order.customer_name = "别的公司"  # type: ignore[misc]


def test_an_order_with_lines_in_another_currency_is_rejected() -> None:
    usd_line = _line(unit_price=Money(amount=Decimal(100), currency="USD"))
    with pytest.raises(ValidationError, match="USD"):
        _order(lines=(usd_line,))


def test_chinese_text_round_trips_unchanged() -> None:
    order = _order(customer_name="东莞宏远精密电子有限公司二厂")
    text = order.model_dump_json()
    assert "东莞宏远精密电子有限公司二厂" in text
    assert OrderPlacedV1.model_validate_json(text) == order


def test_travel_return_before_departure_is_rejected() -> None:
    with pytest.raises(ValidationError, match="return_date"):
        TravelApprovedV1(
            instance_code="7C1E4B2A",
            approval_code="TRAVEL",
            applicant=Employee(employee_no="E10023", name="王磊"),
            destination="上海",
            departure_date=date(2025, 4, 25),
            return_date=date(2025, 4, 21),
            purpose="参展",
            approvers=(Employee(employee_no="E10002", name="赵建国"),),
            approved_at=datetime.fromisoformat("2025-04-10T16:42:05+08:00"),
        )


def test_order_status_only_moves_forward() -> None:
    assert OrderStatus.SHIPPED.advances(OrderStatus.IN_PRODUCTION)
    assert not OrderStatus.IN_PRODUCTION.advances(OrderStatus.SHIPPED)
    assert not OrderStatus.SHIPPED.advances(OrderStatus.SHIPPED)
    assert OrderStatus.PLACED.advances(None)
    assert OrderStatus.CANCELLED.advances(OrderStatus.INVOICED)


def _models_reachable(model: type[BaseModel]) -> set[type[BaseModel]]:
    found = {model}
    for field in model.model_fields.values():
        stack = [field.annotation]
        while stack:
            annotation = stack.pop()
            if (
                isinstance(annotation, type)
                and issubclass(annotation, BaseModel)
                and annotation not in found
            ):
                found |= _models_reachable(annotation)
            stack.extend(getattr(annotation, "__args__", ()))
    return found


def test_every_field_of_every_model_has_a_description() -> None:
    models: set[type[BaseModel]] = {Envelope}
    for payload in ALL_PAYLOADS:
        models |= _models_reachable(payload)
    missing = [
        f"{model.__name__}.{name}"
        for model in models
        for name, field in model.model_fields.items()
        if not field.description
    ]
    assert not missing


def test_event_types_and_class_names_follow_the_naming_rule() -> None:
    assert len(EVENT_TYPES) == len(ALL_PAYLOADS)
    for event_type, model in EVENT_TYPES.items():
        assert EVENT_TYPE_RE.match(event_type), event_type
        _, _domain, entity, verb, major = event_type.split(".")
        expected = "".join(part.title() for part in [*entity.split("-"), *verb.split("-")])
        assert model.__name__ == f"{expected}{major.upper()}", (event_type, model.__name__)
