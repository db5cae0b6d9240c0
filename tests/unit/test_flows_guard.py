"""The per-event guard: retries in place, dead-letters with reasons, never lets an error out."""

from dataclasses import replace

from bizbus.connectors.errors import (
    AuthError,
    MappingError,
    RateLimited,
    RejectedError,
    TransientError,
)
from bizbus.connectors.retry import RetryPolicy
from bizbus.flows.runtime import deadletter as dl
from bizbus.flows.runtime.guard import GUARD_POLICY, EventGuard, Outcome
from bizbus.flows.runtime.record import Headers, RawRecord
from bizbus.schemas import SchemaError

RECORD = RawRecord(
    topic="biz.sales.order",
    partition=2,
    offset=41,
    key=b"order-1",
    value=b'{"customer": "\xe5\xbc\xa0\xe4\xb8\x89"}',
    headers=[("ce_id", b"e-1"), ("ce_type", b"bizbus.sales.order.placed.v1")],
)


class Harness:
    def __init__(
        self,
        *failures: BaseException,
        dlq_failures: int = 0,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.failures = list(failures)
        self.calls = 0
        self.sleeps: list[float] = []
        self.dead: list[tuple[str, bytes | None, bytes | None, Headers]] = []
        self.dlq_failures = dlq_failures
        self.guard = EventGuard(
            self.send_dead_letter, policy=policy or RetryPolicy(attempts=3), sleep=self.sleep
        )

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    async def send_dead_letter(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Headers
    ) -> None:
        if self.dlq_failures:
            self.dlq_failures -= 1
            raise ConnectionError("broker away")
        self.dead.append((topic, key, value, headers))

    async def handler(self, record: RawRecord) -> None:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)


async def test_success_is_done_after_one_call() -> None:
    h = Harness()
    assert await h.guard.run(h.handler, RECORD) is Outcome.DONE
    assert (h.calls, h.dead, h.guard.stats.done) == (1, [], 1)


async def test_503_then_success_is_retried_in_place_once() -> None:
    h = Harness(TransientError("erp answered 503", system="erp", status_code=503))
    assert await h.guard.run(h.handler, RECORD) is Outcome.DONE
    assert h.calls == 2 and len(h.sleeps) == 1 and h.dead == []


async def test_rate_limit_waits_for_retry_after() -> None:
    h = Harness(RateLimited("crm answered 429", system="crm", retry_after=7.0))
    assert await h.guard.run(h.handler, RECORD) is Outcome.DONE
    assert h.sleeps == [7.0]


async def test_transient_errors_past_the_attempt_limit_become_a_dead_letter() -> None:
    h = Harness(*[TransientError("erp answered 503")] * 5)
    assert await h.guard.run(h.handler, RECORD) is Outcome.DEAD_LETTERED
    assert h.calls == 3
    topic, key, value, headers = h.dead[0]
    assert (topic, key, value) == ("biz.sales.order.dlq", RECORD.key, RECORD.value)
    assert dict(headers)[dl.ATTEMPTS] == b"3"


async def test_rejected_write_is_dead_lettered_at_once_with_reason_and_origin() -> None:
    h = Harness(RejectedError("erp rejected sale.order: unknown field x_foo", status_code=422))
    assert await h.guard.run(h.handler, RECORD) is Outcome.DEAD_LETTERED
    assert h.calls == 1 and h.sleeps == []
    headers = dict(h.dead[0][3])
    assert headers[dl.ERROR_CLASS] == b"RejectedError"
    assert headers[dl.REASON] == b"erp rejected sale.order: unknown field x_foo"
    assert headers[dl.SOURCE_TOPIC] == b"biz.sales.order"
    assert (headers[dl.SOURCE_PARTITION], headers[dl.SOURCE_OFFSET]) == (b"2", b"41")
    assert headers["ce_id"] == b"e-1"  # the original headers travel with the dead letter


async def test_foreign_exception_text_is_withheld_because_it_may_echo_personal_data() -> None:
    h = Harness(ValueError("bad phone 13800138000 for 张三"))
    assert await h.guard.run(h.handler, RECORD) is Outcome.DEAD_LETTERED
    reason = dict(h.dead[0][3])[dl.REASON].decode()
    assert "13800138000" not in reason and "张三" not in reason
    assert "ValueError" in reason


async def test_auth_error_holds_the_partition_instead_of_dead_lettering() -> None:
    h = Harness(AuthError("crm rejected the token"), AuthError("crm rejected the token"))
    assert await h.guard.run(h.handler, RECORD) is Outcome.DONE
    assert h.dead == [] and h.guard.stats.auth_waits == 2
    assert h.sleeps == [h.guard.policy.auth_hold] * 2


async def test_dead_letter_write_is_retried_until_the_broker_takes_it() -> None:
    h = Harness(MappingError("no ERP product for CRM product 01t..."), dlq_failures=2)
    assert await h.guard.run(h.handler, RECORD) is Outcome.DEAD_LETTERED
    assert len(h.dead) == 1 and len(h.sleeps) == 2


def test_replay_headers_drop_only_the_dead_letter_headers() -> None:
    headers = dl.dead_letter_headers(RECORD, RejectedError("no"), attempts=1)
    assert dl.replay_headers(headers) == RECORD.headers


async def test_schema_error_reason_is_kept_because_it_names_fields_not_values() -> None:
    error = SchemaError("missing field", event_type="bizbus.sales.order.placed.v1", field="data.x")
    h = Harness(error)
    assert await h.guard.run(h.handler, RECORD) is Outcome.DEAD_LETTERED
    reason = dict(h.dead[0][3])[dl.REASON].decode()
    assert "data.x" in reason and "withheld" not in reason


async def test_the_default_policy_retries_six_times_in_place_without_a_time_cap() -> None:
    h = Harness(*[TransientError("erp answered 503", system="erp")] * 6, policy=GUARD_POLICY)
    assert await h.guard.run(h.handler, RECORD) is Outcome.DEAD_LETTERED
    assert h.calls == 6 and len(h.sleeps) == 5
    assert all(0.1 <= s <= 10.5 for s in h.sleeps) and h.sleeps[0] <= 0.2 + 0.5


async def test_a_time_capped_policy_dead_letters_when_the_next_wait_ends_too_late() -> None:
    policy = replace(GUARD_POLICY, max_delay=1.0)
    h = Harness(RateLimited("crm answered 429", system="crm", retry_after=5), policy=policy)
    assert await h.guard.run(h.handler, RECORD) is Outcome.DEAD_LETTERED
    assert h.calls == 1 and h.sleeps == []
