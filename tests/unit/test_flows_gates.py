"""System gates: down or rejected holds the callers, a probe reopens, listeners hear changes."""

import asyncio

from bizbus.connectors.errors import AuthError, RateLimited, TransientError
from bizbus.flows.runtime.gates import Gates, GateTiming, SystemGate, SystemState

FAST = GateTiming(first_s=0.01, max_s=0.02, rejected_s=0.03)


class Probe:
    """A ping that fails while `down` is set."""

    def __init__(self) -> None:
        self.down: BaseException | None = None
        self.calls = 0
        self.third_call = asyncio.Event()

    async def __call__(self) -> None:
        self.calls += 1
        if self.calls == 3:
            self.third_call.set()
        if self.down is not None:
            raise self.down


async def test_a_failure_holds_callers_until_a_probe_succeeds() -> None:
    probe = Probe()
    probe.down = TransientError("erp: 503", system="odoo")
    gate = SystemGate("erp", probe, timing=FAST)
    changes: list[SystemState] = []
    gate.add_listener(changes.append)

    gate.failed(TransientError("erp: 503", system="odoo"))
    assert gate.state is SystemState.DOWN
    waiter = asyncio.ensure_future(gate.wait_up())
    await asyncio.wait_for(probe.third_call.wait(), 1)
    assert not waiter.done()  # probes failing: callers stay held
    probe.down = None
    await asyncio.wait_for(waiter, 1)
    assert gate.up and changes == [SystemState.DOWN, SystemState.UP]
    await gate.close()


async def test_rejected_credentials_are_their_own_state_and_wait_longer() -> None:
    probe = Probe()
    probe.down = AuthError("erp: 401", system="odoo", status_code=401)
    gate = SystemGate("erp", probe, timing=FAST)
    gate.failed(AuthError("erp: 401", system="odoo", status_code=401))
    assert gate.state is SystemState.REJECTED
    assert FAST.delay(SystemState.REJECTED, 1, None) == 0.03
    probe.down = None
    await asyncio.wait_for(gate.wait_up(), 1)
    await gate.close()


def test_backoff_doubles_to_its_ceiling_and_honours_retry_after() -> None:
    timing = GateTiming(first_s=0.5, max_s=4)
    assert [timing.delay(SystemState.DOWN, n, None) for n in (1, 2, 3, 4, 5)] == [
        0.5, 1, 2, 4, 4,
    ]  # fmt: skip
    limited = RateLimited("crm: 429", retry_after=7, system="salesforce")
    assert timing.delay(SystemState.DOWN, 1, limited) == 7


async def test_any_success_reopens_the_gate_at_once() -> None:
    probe = Probe()
    probe.down = TransientError("slow")
    gate = SystemGate("crm", probe, timing=GateTiming(first_s=60))
    gate.failed(TransientError("timeout"))
    gate.succeeded()  # a call that was already in flight came back fine
    await asyncio.wait_for(gate.wait_up(), 1)
    await gate.close()


async def test_gates_are_made_per_system_and_report_their_states() -> None:
    probe = Probe()
    gates = Gates(lambda system: probe, timing=FAST)
    heard: list[str] = []
    gates.add_listener(lambda gate: heard.append(f"{gate.system}:{gate.state.value}"))
    assert gates.all_up(frozenset({"crm", "erp"}))
    probe.down = TransientError("503")
    gates["erp"].failed(TransientError("503"))
    assert not gates.all_up(frozenset({"crm", "erp"})) and gates.all_up(frozenset({"crm"}))
    assert gates.states() == {"crm": "up", "erp": "down"}
    probe.down = None
    await asyncio.wait_for(gates["erp"].wait_up(), 1)
    assert heard == ["erp:down", "erp:up"]
    await gates.close()
