"""Raw records of a deal carry the deal's correlation id, so a trace finds them with it."""

from datetime import UTC, datetime

from bizbus.connectors.base import Cursor, SourceRecord
from bizbus.flows.fulfilment.flow import deal_of
from bizbus.flows.runtime.polling import correlation_id, raw_event

WHEN = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)


def _record(entity: str, payload: dict[str, object]) -> SourceRecord:
    return SourceRecord(entity, "7", Cursor(WHEN, "7"), payload, WHEN)


def test_an_erp_sale_order_names_its_crm_order_deal() -> None:
    record = _record("sale.order", {"client_order_ref": "8015j000000CaRAAA0"})
    assert deal_of(record) == correlation_id("crm-order", "8015j000000CaRAAA0")
    event = raw_event("erp", record, correlationid=deal_of(record))
    assert event.correlationid == correlation_id("crm-order", "8015j000000CaRAAA0")


def test_a_record_without_a_crm_order_keeps_its_own_correlation_id() -> None:
    record = _record("mrp.production", {"origin": "S00002"})
    assert deal_of(record) is None
    assert raw_event("erp", record).correlationid == correlation_id("erp", "mrp.production:7")
