"""An end-to-end stack for flow tests: sandboxes + a real `bizbus worker` process on the broker.

Each stack gets its own app id, topic prefix and sandbox databases, so stacks never see each
other's events even on the shared session broker.
"""

import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
from aiokafka import TopicPartition

from bizbus.deploy.demo.worker import WorkerProcess
from bizbus.deploy.kafka.cluster import free_ports
from bizbus.deploy.sandbox.runner import SandboxStack, start_sandbox, stop_sandbox
from bizbus.deploy.sandbox.wiring import connector_env
from bizbus.deploy.watch import WorkerCounters, polled_since, read_counters
from bizbus.flows.personal import throwaway_key
from bizbus.flows.runtime.kafka_config import KafkaTarget, admin_client, consumer, producer
from bizbus.schemas import Envelope
from bizbus.schemas.codec import Headers, encode_record

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")
RawRecord = tuple[bytes | None, bytes | None, Headers]  # key, value (None: a tombstone), headers
WEB_TOKEN = "flowstack-web-token"  # noqa: S105 - a test value


class FlowStack:
    """Sandboxes plus one worker running `flows`; `stop()` ends every process it started."""

    def __init__(
        self,
        kafka_bootstrap: str,
        run_dir: Path,
        *,
        flows: str,
        systems: tuple[str, ...] = ("crm", "erp", "oa"),
        sandbox_env: dict[str, str] | None = None,
        worker_env: dict[str, str] | None = None,
        kafka: KafkaTarget | None = None,
        push: bool = False,
    ) -> None:
        suffix = uuid.uuid4().hex[:8]
        self.run_dir = run_dir
        self.kafka_bootstrap = kafka_bootstrap
        self.kafka = kafka or kafka_bootstrap  # how the test's own clients log in
        self.flows = flows
        self.push = push  # the CRM pushes its changes (Pub/Sub API) instead of being polled
        self.systems = systems
        self.sandbox_env = {"BIZBUS_SANDBOX_ERP_STEP_S": "1", **(sandbox_env or {})}
        self.app_id = f"test-flows-{suffix}"
        self.topic_prefix = f"t{suffix}."
        self.web_port = free_ports(1)[0]
        self.extra_env = worker_env or {}
        # One personal-data key for the stack's life: a restarted worker reads what it sealed.
        self.keys, self.pii_env = throwaway_key("flowstack")
        self.sandboxes: SandboxStack | None = None
        self.worker: WorkerProcess | None = None
        self.extra_workers: list[tuple[WorkerProcess, int]] = []
        self.log_path = run_dir / "worker.log"

    @property
    def urls(self) -> dict[str, str]:
        assert self.sandboxes is not None
        return self.sandboxes.urls

    @property
    def grpc_addresses(self) -> dict[str, str]:
        assert self.sandboxes is not None
        return self.sandboxes.grpc_addresses

    @property
    def worker_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def topic(self, logical: str) -> str:
        return self.topic_prefix + logical

    async def send(self, logical: str, *records: RawRecord) -> None:
        """Write `(key, value, headers)` records to the stack's `logical` topic, each acked."""
        writer = producer(self.kafka, acks="all")
        await writer.start()
        try:
            for key, value, headers in records:
                await writer.send_and_wait(self.topic(logical), value, key=key, headers=headers)
        finally:
            await writer.stop()

    async def publish(self, logical: str, *events: Envelope[Any], sealed: bool = False) -> None:
        """Encode `events` as a connector would (`sealed`: with the stack's personal-data key)."""
        keys = self.keys if sealed else None
        await self.send(logical, *(encode_record(event, keys=keys) for event in events))

    def web(self) -> httpx.AsyncClient:
        """A client of the worker's web server carrying its token (bizbus's own views)."""
        headers = {"Authorization": f"Bearer {WEB_TOKEN}"}
        return httpx.AsyncClient(base_url=self.worker_url, headers=headers, timeout=10)

    def worker_env(self) -> dict[str, str]:
        return {
            **os.environ,
            **connector_env(self.urls, self.grpc_addresses if self.push else None),
            "BIZBUS_KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            "BIZBUS_APP_ID": self.app_id,
            "BIZBUS_TOPIC_PREFIX": self.topic_prefix,
            "BIZBUS_DATADIR": str(self.run_dir / "faust"),
            "BIZBUS_WEB_PORT": str(self.web_port),
            "BIZBUS_WEB_TOKEN": WEB_TOKEN,
            **self.pii_env,
            "BIZBUS_POLL_INTERVAL_S": "0.5",
            # Tests wait for polls: no back-off unless a test asks for it (extra_env).
            **{f"BIZBUS_{system}_POLL_IDLE_S": "0.5" for system in ("CRM", "ERP", "OA")},
            "BIZBUS_RETRY_FIRST_DELAY_S": "0.1",
            "BIZBUS_FLOWS": self.flows,
            **self.extra_env,
        }

    def start(self) -> "FlowStack":
        self.sandboxes = start_sandbox(
            list(self.systems), run_dir=self.run_dir / "sandbox", env=self.sandbox_env
        )
        self.start_worker()
        return self

    def start_worker(self, timeout_s: float = 90) -> None:
        self.worker = WorkerProcess(self.worker_env(), self.log_path, cwd=ROOT)
        try:
            self.worker.start(timeout_s=timeout_s)
        except RuntimeError as error:
            raise AssertionError(str(error)) from None

    def stop_worker(self) -> int | None:
        return self.worker.stop() if self.worker is not None else None

    def add_worker(self, number: int, timeout_s: float = 90) -> WorkerProcess:
        """Start one more worker of the same group (its own web port and log)."""
        port = free_ports(1)[0]
        env = {**self.worker_env(), "BIZBUS_WEB_PORT": str(port)}
        log_path = self.run_dir / f"worker-{number}.log"
        worker = WorkerProcess(env, log_path, cwd=ROOT)
        self.extra_workers.append((worker, port))
        try:
            worker.start(timeout_s=timeout_s)
        except RuntimeError as error:
            raise AssertionError(str(error)) from None
        return worker

    def stop(self) -> None:
        for worker, _ in self.extra_workers:
            worker.stop()
        self.stop_worker()
        if self.sandboxes is not None:
            stop_sandbox(self.sandboxes)

    def log_tail(self, lines: int = 60) -> str:
        return self.worker.log_tail(lines) if self.worker is not None else "(no worker)"

    async def wait_for(
        self,
        probe: Callable[[], Awaitable[T | None]],
        *,
        what: str,
        timeout_s: float = 60,
        interval_s: float = 0.3,
    ) -> T:
        """Poll `probe` until it returns something truthy; fail with the worker log if not."""
        deadline = time.monotonic() + timeout_s
        last: T | None = None
        while time.monotonic() < deadline:
            assert self.worker is not None and self.worker.alive(), (
                f"worker died while waiting for {what}:\n{self.log_tail()}"
            )
            last = await probe()
            if last:
                return last
            await asyncio.sleep(interval_s)
        raise AssertionError(
            f"timed out after {timeout_s} s waiting for {what} (last: {last!r});\n"
            f"worker log:\n{self.log_tail()}"
        )

    async def counters(self) -> WorkerCounters:
        """One scrape of the worker's `/metrics`: poll passes per feed and pending records."""
        async with self.web() as http:
            return await read_counters(http)

    async def wait_for_polls(self, *feeds: str, passes: int = 2) -> None:
        """Wait until each of `feeds` has finished `passes` more polls (a change would be read).

        Bounds a "nothing more happens" check by work the worker did, not by a fixed sleep.
        """
        before = await self.counters()

        async def polled() -> bool:
            return polled_since(before, await self.counters(), feeds, polls=passes)

        await self.wait_for(polled, what=f"{passes} more polls of {', '.join(feeds)}")

    async def wait_caught_up(self, *logical_topics: str) -> None:
        """Wait until the worker's groups have committed every record of these topics.

        Offsets are committed after the record was handled, so once the groups' offsets meet
        the topics' ends (read again on every check, so records derived meanwhile count too),
        everything in them has had its effect.
        """
        names = [self.topic(logical) for logical in logical_topics]
        admin = admin_client(self.kafka)
        reader = consumer(self.kafka)
        await admin.start()
        await reader.start()
        try:
            described = await admin.describe_topics(names)
            tps = [
                TopicPartition(topic["topic"], row["partition"])
                for topic in described
                for row in topic["partitions"]
            ]
            reader.assign(tps)  # metadata of every topic in one request

            async def caught_up() -> bool:
                # faust's group runs the agents, `<app id>-batch` the pure stages: every group
                # that reads a topic must have committed its end.
                ends = await reader.end_offsets(tps)
                groups = [
                    await admin.list_consumer_group_offsets(group)
                    for group in (self.app_id, f"{self.app_id}-batch")
                ]
                for tp, end in ends.items():
                    readers = [g for g in groups if any(t.topic == tp.topic for t in g)]
                    if not readers or any((g[tp].offset if tp in g else 0) < end for g in readers):
                        return False
                return True

            await self.wait_for(caught_up, what=f"the worker to handle all of {logical_topics}")
        finally:
            await reader.stop()
            await admin.close()
