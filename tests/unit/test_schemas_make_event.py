"""make_event's fast path builds exactly the envelope validation builds; bad parts still fail."""

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from bizbus.schemas import Envelope, SchemaError, encode_record, event_to_dict, make_event
from bizbus.schemas.events import _valid_as_is
from bizbus.schemas.payloads.commands import SalesOrderRequestedV1
from bizbus.schemas.registry import event_model

TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def _command() -> SalesOrderRequestedV1:
    return SalesOrderRequestedV1.model_validate(
        {
            "crm_order_id": "801A000000000001",
            "crm_order_number": "00000001",
            "customer_ref": "C-1",
            "order_date": "2025-05-12",
            "currency": "CNY",
            "lines": [
                {
                    "line_no": 1,
                    "model_code": "HL-SM-7.5",
                    "product_name": "马达",
                    "quantity": "4",
                    "unit_price": {"amount": "12.50", "currency": "CNY"},
                    "discount_percent": "0",
                }
            ],
        }
    )


def _validated(event: Envelope[Any]) -> Envelope[Any]:
    """Return the envelope validation builds from the same attributes `event` was made of."""
    model = event_model(event.type)
    return model(**{name: getattr(event, name) for name in event.__pydantic_fields_set__})


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"causationid": "c-1", "traceparent": TRACE, "tracestate": "k=v", "entityversion": 3},
        {"time": datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=8)))},
        {"subject": "another", "id": "given-id", "entityversion": 0},
    ],
)
def test_the_fast_envelope_equals_the_validated_one(extra: dict[str, Any]) -> None:
    event = make_event(
        _command(), source="bizbus://t", correlationid="deal-1", origin="bizbus", **extra
    )
    assert _valid_as_is({**event.__dict__})  # it did take the fast path
    expected = _validated(event)
    assert event == expected
    assert list(event.__dict__.items()) == list(expected.__dict__.items())
    assert event.__pydantic_fields_set__ == expected.__pydantic_fields_set__
    assert event_to_dict(event) == event_to_dict(expected)
    assert event.model_dump_json() == expected.model_dump_json()
    assert encode_record(event) == encode_record(expected)
    assert hash(event) == hash(expected)
    with pytest.raises(ValueError, match="frozen"):
        event.id = "changed"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"correlationid": ""}, "correlationid"),
        ({"source": ""}, "source"),
        ({"subject": ""}, "subject"),
        ({"origin": "sap"}, "origin"),
        ({"time": datetime(2025, 1, 2)}, "time"),  # noqa: DTZ001 - naive on purpose
        ({"entityversion": -1}, "entityversion"),
        ({"tracestate": "x" * 513}, "tracestate"),
    ],
)
def test_invalid_parts_are_still_refused(extra: dict[str, Any], field: str) -> None:
    arguments: dict[str, Any] = {"source": "bizbus://t", "correlationid": "deal-1",
                                 "origin": "bizbus", **extra}  # fmt: skip
    with pytest.raises(SchemaError) as caught:
        make_event(_command(), **arguments)
    assert caught.value.field == field


def test_values_validation_converts_take_the_validating_path() -> None:
    malformed = make_event(_command(), source="bizbus://t", correlationid="deal-1",
                           origin="bizbus", traceparent="not-a-trace")  # fmt: skip
    assert malformed.traceparent is None  # dropped, as the envelope's validator does
    coerced = make_event(_command(), source="bizbus://t", correlationid="deal-1",
                         origin="bizbus", entityversion="7")  # type: ignore[arg-type]  # fmt: skip
    assert coerced.entityversion == 7
    assert coerced == _validated(coerced)


def test_a_payload_of_another_model_is_not_trusted() -> None:
    class Lookalike(SalesOrderRequestedV1):
        """A subclass: validation decides what the envelope makes of it."""

    payload = Lookalike.model_validate(_command().model_dump())
    event = make_event(payload, source="bizbus://t", correlationid="deal-1", origin="bizbus")
    fields = {**event.__dict__, "data": payload}
    assert not _valid_as_is(fields)
    assert event.time.tzinfo is not None and event.time <= datetime.now(UTC)
