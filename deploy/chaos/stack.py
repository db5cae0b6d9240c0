"""What the chaos suite runs on: Kafka, the three sandboxes and a group of workers it may kill.

Kafka is started (single node, loopback) unless a bootstrap address is given. Every worker of
the group has a static-membership id (`chaos-<n>`, as a StatefulSet pod would), its own web port
and log; `kill` is SIGKILL, `restart` starts the same member again. A worker that exits without
being killed counts as a crash. `stop()` ends every process the stack started.
"""

import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from bizbus.deploy.demo.worker import WorkerProcess
from bizbus.deploy.kafka import KafkaCluster, KafkaRuntimeSettings, start_cluster, stop_cluster
from bizbus.deploy.kafka.cluster import free_ports
from bizbus.deploy.sandbox.runner import SandboxStack, start_sandbox, stop_sandbox
from bizbus.deploy.sandbox.wiring import connector_env
from bizbus.flows.personal import throwaway_key
from bizbus.schemas import KeyRing

__all__ = ["FLOWS", "ChaosStack", "ChaosTimeout", "Member"]

T = TypeVar("T")

Progress = Callable[[str], None]
FLOWS = "travel,customers,orders,fulfilment"
READY_TIMEOUT_S = 180.0
# A fresh ERP fulfilment step every second: orders move forward while the suite runs.
SANDBOX_ENV = {"BIZBUS_SANDBOX_ERP_STEP_S": "1"}


@dataclass
class Member:
    """One worker of the group: its process, static id and web port."""

    number: int
    port: int
    process: WorkerProcess
    down: bool = False  # stopped or killed by the suite: not a crash

    @property
    def url(self) -> str:
        """Return the worker's web server URL."""
        return f"http://127.0.0.1:{self.port}"


@dataclass
class ChaosStack:
    """Kafka (ours or given), the sandbox CRM, ERP and OA, and the worker group."""

    run_dir: Path
    bootstrap: str | None = None
    progress: Progress = lambda _: None
    cluster: KafkaCluster | None = None
    sandboxes: SandboxStack | None = None
    members: list[Member] = field(default_factory=list)
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    web_token: str = field(default_factory=lambda: uuid.uuid4().hex)
    pii: tuple[KeyRing, dict[str, str]] = field(default_factory=lambda: throwaway_key("chaos"))
    crashes: int = 0

    @property
    def app_id(self) -> str:
        """Return the app id (= consumer group) of this run."""
        return f"chaos-{self.tag}"

    @property
    def prefix(self) -> str:
        """Return the topic prefix of this run."""
        return f"chaos{self.tag}."

    def topic(self, logical: str) -> str:
        """Return the physical name of a catalog topic of this run."""
        return self.prefix + logical

    @property
    def kafka(self) -> str:
        """Return the bootstrap address (after `start`)."""
        if self.bootstrap is None:
            raise RuntimeError("the chaos stack is not started")
        return self.bootstrap

    @property
    def urls(self) -> dict[str, str]:
        """Return the sandbox base URLs by system."""
        return self.sandboxes.urls if self.sandboxes else {}

    def start(self, workers: int) -> None:
        """Start Kafka (unless given), the sandboxes and `workers` members, then hook the OA."""
        if self.bootstrap is None:
            self.progress("starting Kafka (first run downloads it from Maven Central)")
            self.cluster = start_cluster(
                KafkaRuntimeSettings(), run_dir=self.run_dir / "kafka", progress=self.progress
            )
            self.bootstrap = self.cluster.bootstrap
        self.progress("starting the sandbox CRM, ERP and OA")
        self.sandboxes = start_sandbox(
            ["crm", "erp", "oa"], run_dir=self.run_dir / "sandbox", env=SANDBOX_ENV
        )
        for number in range(workers):
            self.progress(f"starting worker {number + 1} of {workers}")
            self.add_member()

    def worker_env(self, port: int, number: int) -> dict[str, str]:
        """Return the environment of member `number` (test-speed polling, static id)."""
        return {
            **os.environ,
            **connector_env(self.urls),
            "BIZBUS_KAFKA_BOOTSTRAP": self.kafka,
            "BIZBUS_APP_ID": self.app_id,
            "BIZBUS_TOPIC_PREFIX": self.prefix,
            "BIZBUS_DATADIR": str(self.run_dir / f"faust-{number}"),
            "BIZBUS_WEB_PORT": str(port),
            "BIZBUS_WEB_TOKEN": self.web_token,
            "BIZBUS_INSTANCE_ID": f"chaos-{number}",
            "BIZBUS_FLOWS": FLOWS,
            "BIZBUS_POLL_INTERVAL_S": "0.5",
            **{f"BIZBUS_{system}_POLL_IDLE_S": "1.0" for system in ("CRM", "ERP", "OA")},
            "BIZBUS_RETRY_FIRST_DELAY_S": "0.1",
            **self.pii[1],
        }

    def add_member(self) -> Member:
        """Start one more worker of the group and wait until it is ready."""
        number, port = len(self.members), free_ports(1)[0]
        log_path = self.run_dir / f"worker-{number}.log"
        member = Member(number, port, WorkerProcess(self.worker_env(port, number), log_path))
        self.members.append(member)
        member.process.start(timeout_s=READY_TIMEOUT_S)
        return member

    def running(self) -> list[Member]:
        """Return the members the suite has not stopped or killed (a crash shows as down)."""
        return [member for member in self.members if not member.down]

    def kill(self, member: Member) -> None:
        """SIGKILL a member: nothing flushed, committed or handed over."""
        member.down = True
        member.process.kill()

    async def restart(self, member: Member) -> None:
        """Start a killed or stopped member again (same static id) and wait until it is ready."""
        await asyncio.to_thread(member.process.start, timeout_s=READY_TIMEOUT_S)
        member.down = False

    def count_crashes(self) -> int:
        """Return how many times a member exited without the suite stopping it (so far)."""
        for member in self.members:
            if not member.down and not member.process.alive():
                self.crashes += 1
                member.down = True  # counted once; a scenario may restart it
        return self.crashes

    def logs(self) -> list[Path]:
        """Return every worker log of the run."""
        return sorted(self.run_dir.glob("worker-*.log"))

    def stop(self) -> None:
        """Stop everything: workers first (so they commit), then the sandboxes and Kafka."""
        try:
            for member in self.members:
                member.process.stop(grace_s=15)
        finally:
            if self.sandboxes is not None:
                stop_sandbox(self.sandboxes)
                self.sandboxes = None
            if self.cluster is not None:
                stop_cluster(self.cluster)
                self.cluster = None

    async def wait_for(
        self,
        probe: Callable[[], Awaitable[T | None]],
        *,
        what: str,
        timeout_s: float = 120,
        interval_s: float = 0.5,
    ) -> T:
        """Poll `probe` until it returns something truthy; raise ChaosTimeout naming `what`."""
        deadline = time.monotonic() + timeout_s
        last: T | None = None
        while time.monotonic() < deadline:
            last = await probe()
            if last:
                return last
            await asyncio.sleep(interval_s)
        raise ChaosTimeout(f"timed out after {timeout_s:.0f} s waiting for {what} (last: {last!r})")


class ChaosTimeout(RuntimeError):
    """Something the suite waited for did not happen in time (the scenario fails with it)."""
