"""A record read by several stages of one topic is decoded once, per key ring."""

from bizbus.deploy.bench.records import placed_orders
from bizbus.flows.runtime.record import RawRecord
from bizbus.flows.shared import decode
from bizbus.schemas import KeyRing


def _placed() -> RawRecord:
    [(key, value, headers)] = placed_orders(1, keys=1, tag="memo")
    return RawRecord("biz.sales.order", 0, 3, key, value, list(headers))


def test_the_stages_of_one_record_share_its_decoded_event() -> None:
    record = _placed()
    first = decode(record, None)
    assert decode(record, None) is first
    assert decode(_placed(), None) is not first, "another record is decoded on its own"


def test_another_key_ring_decodes_again() -> None:
    record = _placed()
    first = decode(record, None)
    again = decode(record, KeyRing.generate())
    assert again == first and again is not first
    assert decode(record, None) is not first, "the last ring's event is the one kept"
