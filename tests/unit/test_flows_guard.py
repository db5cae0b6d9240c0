"""The stage guard: outages wait at the gate, bad records dead-letter and hold their key."""

import asyncio
from collections import Counter

from aiokafka.errors import KafkaTimeoutError

from bizbus.connectors.errors import AuthError, MappingError, RejectedError, TransientError
from bizbus.flows.runtime import deadletter as dl
from bizbus.flows.runtime.gates import Gates, GateTiming
from bizbus.flows.runtime.guard import Outcome, StageGuard, role_of
from bizbus.flows.runtime.holds import REPLAY_HEADER, hold_key
from bizbus.flows.runtime.record import Headers, RawRecord
from bizbus.schemas import SchemaError

RECORD = RawRecord(
    topic="cmd.erp.sales-order",
    partition=2,
    offset=41,
    key=b"order-1",
    value=b'{"customer": "\xe5\xbc\xa0\xe4\xb8\x89"}',
    headers=[("ce_id", b"e-1"), ("ce_type", b"bizbus.sales.order.requested.v1")],
)
REPLAYED = RawRecord(**{**RECORD.__dict__, "headers": [*RECORD.headers, (REPLAY_HEADER, b"x@1")]})
FAST = GateTiming(first_s=0.001, max_s=0.002, rejected_s=0.003)


class FakeHolds:
    """Holds in memory."""

    def __init__(self, *held: bytes) -> None:
        self.loaded = asyncio.Event()
        self.loaded.set()
        self.counts: Counter[bytes] = Counter({hold_key("erp-sales-orders", k): 1 for k in held})

    def is_held(self, stage: str, key: bytes | None) -> bool:
        return self.counts[hold_key(stage, key)] > 0

    async def add(self, stage: str, key: bytes | None) -> None:
        self.counts[hold_key(stage, key)] += 1

    async def replayed(self, stage: str, key: bytes | None) -> None:
        self.counts[hold_key(stage, key)] -= 1

    async def refresh(self) -> None:
        """In memory: always current."""


class Harness:
    """A guard for the ERP stage, a handler failing as scripted, a probe failing while `down`."""

    def __init__(self, *failures: BaseException, held: tuple[bytes, ...] = ()) -> None:
        self.failures = list(failures)
        self.calls = 0
        self.down = 0  # probes still to fail
        self.dead: list[tuple[str, bytes | None, bytes | None, Headers]] = []
        self.dlq_failures = 0
        self.holds = FakeHolds(*held)
        self.gates = Gates(lambda _role: self.probe, timing=FAST)
        self.guard = StageGuard(
            "erp-sales-orders", systems=frozenset({"erp"}), gates=self.gates, holds=self.holds,
            dead_letter=self.send_dead_letter, attempts_while_up=3, kafka_backoff_s=0.001,
        )  # fmt: skip

    async def probe(self) -> None:
        if self.down:
            self.down -= 1
            raise TransientError("still 503", system="odoo")

    async def send_dead_letter(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Headers
    ) -> None:
        if self.dlq_failures:
            self.dlq_failures -= 1
            raise ConnectionError("broker away")
        self.dead.append((topic, key, value, headers))

    async def handle(self, record: RawRecord) -> None:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)

    async def run(self, record: RawRecord = RECORD) -> Outcome:
        try:
            return await asyncio.wait_for(self.guard.run(self.handle, record), 5)
        finally:
            await self.gates.close()


async def test_success_is_done_after_one_call() -> None:
    h = Harness()
    assert await h.run() is Outcome.DONE
    assert (h.calls, h.dead, h.guard.stats.done) == (1, [], 1)


async def test_an_outage_of_any_length_waits_at_the_gate_and_never_dead_letters() -> None:
    h = Harness(*[TransientError("erp answered 503", system="odoo", status_code=503)] * 2)
    h.down = 25  # the ERP stays down for 25 probes
    assert await h.run() is Outcome.DONE
    assert h.dead == [] and h.calls == 3 and h.down == 0
    assert h.gates["erp"].up


async def test_a_record_failing_while_its_system_answers_others_is_dead_lettered() -> None:
    h = Harness(*[TransientError("erp answered 500 for this order", system="odoo")] * 9)
    assert await h.run() is Outcome.DEAD_LETTERED
    assert h.calls == 3  # each failure while the probe said the ERP answers counts
    topic, key, value, headers = h.dead[0]
    assert (topic, key, value) == ("cmd.erp.sales-order.dlq", RECORD.key, RECORD.value)
    assert dict(headers)[dl.ATTEMPTS] == b"3"


async def test_rejected_write_is_dead_lettered_at_once_with_reason_origin_and_stage() -> None:
    h = Harness(RejectedError("erp rejected sale.order: unknown field x_foo", status_code=422))
    assert await h.run() is Outcome.DEAD_LETTERED
    assert h.calls == 1
    headers = dict(h.dead[0][3])
    assert headers[dl.ERROR_CLASS] == b"RejectedError"
    assert headers[dl.REASON] == b"erp rejected sale.order: unknown field x_foo"
    assert headers[dl.SOURCE_TOPIC] == b"cmd.erp.sales-order"
    assert (headers[dl.SOURCE_PARTITION], headers[dl.SOURCE_OFFSET]) == (b"2", b"41")
    assert headers[dl.STAGE] == b"erp-sales-orders"
    assert headers["ce_id"] == b"e-1"  # the original headers travel with the dead letter
    assert h.holds.is_held("erp-sales-orders", b"order-1")


async def test_later_events_of_a_held_key_follow_it_to_the_dead_letters_unhandled() -> None:
    h = Harness(held=(b"order-1",))
    assert await h.run() is Outcome.HELD
    assert h.calls == 0
    assert dict(h.dead[0][3])[dl.ERROR_CLASS] == b"HeldBehindDeadLetterError"
    assert h.holds.counts[hold_key("erp-sales-orders", b"order-1")] == 2


async def test_a_replayed_dead_letter_runs_and_counts_down_its_hold() -> None:
    h = Harness(held=(b"order-1",))
    assert await h.run(REPLAYED) is Outcome.DONE
    assert h.calls == 1 and not h.holds.is_held("erp-sales-orders", b"order-1")


async def test_a_replay_that_fails_again_takes_its_old_place_in_the_hold() -> None:
    h = Harness(MappingError("still no ERP product"), held=(b"order-1",))
    assert await h.run(REPLAYED) is Outcome.DEAD_LETTERED
    assert h.holds.counts[hold_key("erp-sales-orders", b"order-1")] == 1
    assert REPLAY_HEADER not in dict(h.dead[0][3])


async def test_foreign_exception_text_is_withheld_because_it_may_echo_personal_data() -> None:
    h = Harness(ValueError("bad phone 13800138000 for 张三"))
    assert await h.run() is Outcome.DEAD_LETTERED
    reason = dict(h.dead[0][3])[dl.REASON].decode()
    assert "13800138000" not in reason and "张三" not in reason
    assert "ValueError" in reason


async def test_rejected_credentials_hold_the_stage_until_a_probe_gets_through() -> None:
    h = Harness(AuthError("crm rejected the token", system="odoo", status_code=401))
    h.down = 2
    assert await h.run() is Outcome.DONE
    assert h.dead == [] and h.calls == 2


async def test_a_kafka_error_while_publishing_is_retried_not_dead_lettered() -> None:
    h = Harness(KafkaTimeoutError(), KafkaTimeoutError())
    assert await h.run() is Outcome.DONE
    assert h.dead == [] and h.calls == 3


async def test_dead_letter_write_is_retried_until_the_broker_takes_it() -> None:
    h = Harness(MappingError("no ERP product for CRM product 01t..."))
    h.dlq_failures = 2
    assert await h.run() is Outcome.DEAD_LETTERED
    assert len(h.dead) == 1


def test_replay_headers_drop_only_the_dead_letter_headers() -> None:
    headers = dl.dead_letter_headers(RECORD, RejectedError("no"), attempts=1, stage="s")
    assert dl.replay_headers(headers) == RECORD.headers


async def test_schema_error_reason_is_kept_because_it_names_fields_not_values() -> None:
    error = SchemaError("missing field", event_type="bizbus.sales.order.placed.v1", field="data.x")
    h = Harness(error)
    assert await h.run() is Outcome.DEAD_LETTERED
    reason = dict(h.dead[0][3])[dl.REASON].decode()
    assert "data.x" in reason and "withheld" not in reason


def test_an_error_names_its_system_by_dialect_or_falls_back_to_the_stage_s() -> None:
    systems = frozenset({"crm", "erp"})
    assert role_of(TransientError("x", system="odoo"), systems) == "erp"
    assert role_of(TransientError("x", system="salesforce"), systems) == "crm"
    assert role_of(TransientError("x"), frozenset({"erp"})) == "erp"
    assert role_of(TransientError("x"), frozenset()) is None
