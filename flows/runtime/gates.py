"""System gates: a system that is down or refuses our credentials holds only the work needing it.

A stage calls `wait_up()` on the gate of every system its handler uses. A timeout, connection
error, 5xx, 429 or rejected credentials reported with `failed()` marks the system down (or
rejected); from then on only a probe — one cheap authenticated call (`ping`), repeated with
backoff (429: its Retry-After; rejected credentials: a longer wait) — talks to it. When a probe
or any call succeeds, the gate opens and every waiting stage continues where it stopped. An
outage therefore never turns a record into a dead letter, and stages that don't call that
system never notice it. Listeners hear each change (the stages pause and resume fetching).
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from bizbus.connectors.errors import AuthError, RateLimited
from bizbus.flows.runtime.deadletter import safe_reason

log = logging.getLogger("bizbus.gates")

Probe = Callable[[], Awaitable[None]]


class SystemState(StrEnum):
    """How a system answers us."""

    UP = "up"
    DOWN = "down"  # timeouts, connection errors, 5xx, 429
    REJECTED = "rejected"  # credentials refused (401/403 after a token refresh)


@dataclass(frozen=True, slots=True)
class GateTiming:
    """Probe backoff: doubling from `first_s` to `max_s`; `rejected_s` while credentials fail."""

    first_s: float = 0.5
    max_s: float = 10.0
    rejected_s: float = 30.0

    def delay(self, state: SystemState, failures: int, error: BaseException | None) -> float:
        """Return how long to wait before the next probe."""
        if state is SystemState.REJECTED:
            return self.rejected_s
        backoff = min(self.max_s, self.first_s * 2.0 ** max(0, failures - 1))
        if isinstance(error, RateLimited) and error.retry_after is not None:
            return max(backoff, float(error.retry_after))
        return backoff


class SystemGate:
    """Whether one system may be called now, and the probe loop that reopens it."""

    def __init__(
        self,
        system: str,
        probe: Probe,
        *,
        timing: GateTiming | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.system = system
        self._probe = probe
        self.timing = timing or GateTiming()
        self._clock = clock
        self.state = SystemState.UP
        self.since = clock()
        self.failures = 0
        self.reason = ""
        self._opened = asyncio.Event()
        self._opened.set()
        self._prober: asyncio.Task[None] | None = None
        self._listeners: list[Callable[[SystemState], None]] = []

    @property
    def up(self) -> bool:
        """Whether calls may go to the system."""
        return self.state is SystemState.UP

    def add_listener(self, listener: Callable[[SystemState], None]) -> None:
        """Call `listener(state)` on every change of state."""
        self._listeners.append(listener)

    async def wait_up(self) -> None:
        """Return once the system may be called."""
        await self._opened.wait()

    def failed(self, error: BaseException) -> None:
        """Record that a call failed because of the system (not the record); hold the gate."""
        state = SystemState.REJECTED if isinstance(error, AuthError) else SystemState.DOWN
        self.failures += 1
        self.reason = safe_reason(error)
        if self.state is not state:
            if self.up:
                self.since = self._clock()
            log_at = logging.ERROR if state is SystemState.REJECTED else logging.WARNING
            log.log(
                log_at,
                "%s is %s (%s); holding the stages that need it, probing until it answers",
                self.system, state.value, self.reason,
            )  # fmt: skip
            self._change(state)
        if self._prober is None or self._prober.done():
            self._prober = asyncio.get_running_loop().create_task(self._probe_until_up(error))

    def succeeded(self) -> None:
        """Record that a call (or a probe) succeeded; reopen the gate if it was held."""
        if self.up:
            return
        log.warning(
            "%s answers again after %.1f s %s; resuming the stages that need it",
            self.system, self._clock() - self.since, self.state.value,
        )  # fmt: skip
        self.failures = 0
        self.reason = ""
        self._change(SystemState.UP)

    async def close(self) -> None:
        """Stop probing (at worker stop)."""
        if self._prober is not None:
            self._prober.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._prober

    def _change(self, state: SystemState) -> None:
        self.state = state
        if state is SystemState.UP:
            self._opened.set()
        else:
            self._opened.clear()
        for listener in self._listeners:
            listener(state)

    async def _probe_until_up(self, error: BaseException | None) -> None:
        while not self.up:
            await asyncio.sleep(self.timing.delay(self.state, self.failures, error))
            if self.up:
                return
            try:
                await self._probe()
            except asyncio.CancelledError:
                raise
            except Exception as probe_error:  # noqa: BLE001 - any failure means not usable yet
                error = probe_error
                self.failures += 1
                if isinstance(probe_error, AuthError) and self.state is not SystemState.REJECTED:
                    self._change(SystemState.REJECTED)
                self.reason = safe_reason(probe_error)
                continue
            self.succeeded()


class Gates:
    """The gates of one worker, one per system, created on first use."""

    def __init__(self, probes: Callable[[str], Probe], *, timing: GateTiming | None = None) -> None:
        self._probes = probes
        self._timing = timing
        self._gates: dict[str, SystemGate] = {}
        self._listeners: list[Callable[[SystemGate], None]] = []

    def __getitem__(self, system: str) -> SystemGate:
        gate = self._gates.get(system)
        if gate is None:
            gate = self._gates[system] = SystemGate(
                system, self._probes(system), timing=self._timing
            )
            for listener in self._listeners:
                gate.add_listener(_for_gate(listener, gate))
        return gate

    def add_listener(self, listener: Callable[[SystemGate], None]) -> None:
        """Call `listener(gate)` whenever any gate changes state."""
        self._listeners.append(listener)
        for gate in self._gates.values():
            gate.add_listener(_for_gate(listener, gate))

    def all_up(self, systems: frozenset[str]) -> bool:
        """Whether every one of `systems` may be called."""
        return all(self[system].up for system in systems)

    def states(self) -> dict[str, str]:
        """Return each known system's state (for readiness and metrics)."""
        return {name: gate.state.value for name, gate in sorted(self._gates.items())}

    async def close(self) -> None:
        """Stop every probe loop."""
        for gate in self._gates.values():
            await gate.close()


def _for_gate(
    listener: Callable[[SystemGate], None], gate: SystemGate
) -> Callable[[SystemState], None]:
    def notify(_state: SystemState) -> None:
        listener(gate)

    return notify
