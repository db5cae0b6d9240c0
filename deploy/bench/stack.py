"""What the bench runs on: Kafka, the sandbox ERP, workers and raw pipes, all stopped at the end.

Kafka is started (single node, loopback) unless a bootstrap address is given; the sandbox ERP
starts on first need, with its fulfilment engine idle so only the calls measured load it. Every
measurement gets fresh names (topic prefix, app id, consumer group), and its topics are deleted
afterwards, so rounds do not pile partitions onto the broker. `stop()` ends every process this
stack started, whatever happened (it is safe to call twice).
"""

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from bizbus.deploy.bench.pipe import READY_LINE
from bizbus.deploy.demo.worker import WorkerProcess
from bizbus.deploy.kafka import KafkaCluster, KafkaRuntimeSettings, start_cluster, stop_cluster
from bizbus.deploy.kafka.cluster import free_ports
from bizbus.deploy.sandbox.runner import SandboxStack, start_sandbox, stop_sandbox
from bizbus.deploy.sandbox.wiring import connector_env
from bizbus.flows.personal import throwaway_key
from bizbus.flows.runtime.kafka_config import (
    KafkaConnection,
    KafkaSecuritySettings,
    kafka_connection,
)
from bizbus.schemas import KeyRing

__all__ = ["BenchStack", "Names", "PipeProcess"]

Progress = Callable[[str], None]
# The ERP's own fulfilment steps (production, shipping, invoicing) would load the sandbox while
# it is measured; a step far in the future keeps them out of the figures.
IDLE_ENGINE = {"BIZBUS_SANDBOX_ERP_STEP_S": "1000000000"}
WORKER_READY_S = 180.0  # a restarted worker waits out its dead predecessor's session first


@dataclass(frozen=True)
class Names:
    """Fresh names for one measurement: topic prefix, app id (= consumer group)."""

    label: str

    @property
    def prefix(self) -> str:
        """Return the topic prefix (`bench-<run>-<n>.`)."""
        return f"{self.label}."

    @property
    def app_id(self) -> str:
        """Return the app id / consumer group."""
        return self.label

    def topic(self, logical: str) -> str:
        """Return the physical name of a catalog topic under this prefix."""
        return self.prefix + logical

    def owns(self, topic: str) -> bool:
        """Return whether `topic` belongs to this measurement (prefixed or the app's own)."""
        return topic.startswith((self.prefix, self.app_id + "-"))


class PipeProcess:
    """One raw pipe (`python -m bizbus.deploy.bench.pipe`) with its output in a file."""

    def __init__(self, args: list[str], log_path: Path, env: dict[str, str]) -> None:
        self.log_path = log_path
        # A pipe restarted after a crash appends to the same log: read only its own lines.
        self.offset = log_path.stat().st_size if log_path.exists() else 0
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own module, no shell
                [sys.executable, "-m", "bizbus.deploy.bench.pipe", *args],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            )  # fmt: skip

    def _text(self) -> str:
        with self.log_path.open("rb") as log:
            log.seek(self.offset)
            return log.read().decode(errors="replace")

    async def ready(self, *, timeout_s: float = 60) -> None:
        """Wait until the pipe's group assigned it partitions."""
        deadline = time.monotonic() + timeout_s
        while READY_LINE not in self._text():
            self._check(deadline, "get partitions", may_exit=False)
            await asyncio.sleep(0.1)

    async def result(self, *, timeout_s: float) -> dict[str, float]:
        """Wait for the pipe to finish its count; return its JSON report."""
        deadline = time.monotonic() + timeout_s
        while self.process.poll() is None:
            self._check(deadline, "pipe its records", may_exit=True)
            await asyncio.sleep(0.2)
        for line in reversed(self._text().splitlines()):
            if line.startswith("{"):
                report: dict[str, float] = orjson.loads(line)
                return report
        raise RuntimeError(f"the raw pipe ended without a report:\n{self.tail()}")

    def _check(self, deadline: float, what: str, *, may_exit: bool) -> None:
        if not may_exit and self.process.poll() is not None:
            raise RuntimeError(f"the raw pipe exited before it could {what}:\n{self.tail()}")
        if time.monotonic() > deadline:
            self.stop()
            raise RuntimeError(f"the raw pipe did not {what} in time:\n{self.tail()}")

    def kill(self) -> None:
        """SIGKILL the pipe (a crash: nothing flushed, nothing committed, no goodbye)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        """Stop the pipe (SIGTERM, then SIGKILL)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self, lines: int = 30) -> str:
        """Return the last lines of the pipe's output."""
        return "\n".join(self._text().splitlines()[-lines:])


@dataclass
class BenchStack:
    """Kafka (ours or given), the sandbox ERP on demand, and the workers and pipes started."""

    run_dir: Path
    bootstrap: str | None = None
    progress: Progress = lambda _: None
    cluster: KafkaCluster | None = None
    sandbox: SandboxStack | None = None
    workers: list[WorkerProcess] = field(default_factory=list)
    pipes: list[PipeProcess] = field(default_factory=list)
    run_tag: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    # One personal-data key for every worker of the run (a successor reads what it sealed).
    pii: tuple[KeyRing, dict[str, str]] = field(default_factory=lambda: throwaway_key("bench"))
    _count: int = 0

    def start(self) -> str:
        """Start Kafka unless a bootstrap address was given; return the bootstrap address."""
        if self.bootstrap is None:
            self.progress("starting Kafka (first run downloads it from Maven Central)")
            self.cluster = start_cluster(
                KafkaRuntimeSettings(), run_dir=self.run_dir / "kafka", progress=self.progress
            )
            self.bootstrap = self.cluster.bootstrap
        return self.bootstrap

    @property
    def kafka(self) -> str:
        """Return the bootstrap address (after `start`)."""
        if self.bootstrap is None:
            raise RuntimeError("the bench stack is not started")
        return self.bootstrap

    @property
    def connection(self) -> KafkaConnection:
        """Return how to reach Kafka: our own PLAINTEXT broker, or the given one as configured."""
        if self.cluster is not None:
            return self.cluster.connection()
        return kafka_connection(self.kafka)

    def _kafka_env(self) -> dict[str, str]:
        """Return the environment of a child process, with no Kafka login for our own broker."""
        if self.cluster is None:
            return dict(os.environ)
        security = {f"BIZBUS_KAFKA_{name}".upper() for name in KafkaSecuritySettings.model_fields}
        return {key: value for key, value in os.environ.items() if key not in security}

    def erp_url(self) -> str:
        """Return the sandbox ERP's URL, starting it on first use (fresh seeded database)."""
        if self.sandbox is None:
            self.progress("starting the sandbox ERP")
            self.sandbox = start_sandbox(["erp"], run_dir=self.run_dir / "sandbox", env=IDLE_ENGINE)
        return self.sandbox.urls["erp"]

    def erp_log(self) -> Path:
        """Return the sandbox ERP's request log."""
        if self.sandbox is None:
            raise RuntimeError("the sandbox ERP is not started")
        return Path(self.sandbox.servers[0].log_path)

    def names(self, what: str) -> Names:
        """Return fresh names for a measurement of `what` (e.g. `p1`)."""
        self._count += 1
        return Names(f"bench-{self.run_tag}-{self._count}{what}")

    def worker(self, names: Names, settings: dict[str, str]) -> WorkerProcess:
        """Return a (not yet started) `bizbus worker` for `names` with extra `BIZBUS_*` settings."""
        port = free_ports(1)[0]
        env = {
            **self._kafka_env(),
            "BIZBUS_KAFKA_BOOTSTRAP": self.kafka,
            "BIZBUS_APP_ID": names.app_id,
            "BIZBUS_TOPIC_PREFIX": names.prefix,
            "BIZBUS_DATADIR": str(self.run_dir / names.label / "faust"),
            "BIZBUS_WEB_PORT": str(port),
            **(connector_env({"erp": self.erp_url()}) if self.sandbox else {}),
            **self.pii[1],
            **settings,
        }
        process = WorkerProcess(env, self.run_dir / names.label / "worker.log")
        self.workers.append(process)
        return process

    async def start_worker(self, worker: WorkerProcess) -> None:
        """Start `worker` and wait until it is ready (off the event loop: start blocks)."""
        await asyncio.to_thread(worker.start, timeout_s=WORKER_READY_S)

    def pipe(self, names: Names, source: str, sink: str, *, count: int = 0) -> PipeProcess:
        """Start a raw pipe from `source` to `sink` as consumer group `names.app_id`."""
        log_dir = self.run_dir / names.label
        log_dir.mkdir(parents=True, exist_ok=True)
        args = ["--bootstrap", self.kafka, "--group", names.app_id,
                "--source", source, "--sink", sink, "--count", str(count)]  # fmt: skip
        pipe = PipeProcess(args, log_dir / "pipe.log", self._kafka_env())
        self.pipes.append(pipe)
        return pipe

    def stop_processes(self) -> None:
        """Stop every worker and pipe started so far (a measurement's end, or the bench's)."""
        for worker in self.workers:
            worker.stop(grace_s=15)
        for pipe in self.pipes:
            pipe.stop()
        self.workers.clear()
        self.pipes.clear()

    def stop(self) -> None:
        """Stop everything: workers and pipes, then the sandbox and Kafka."""
        try:
            self.stop_processes()
        finally:
            if self.sandbox is not None:
                stop_sandbox(self.sandbox)
                self.sandbox = None
            if self.cluster is not None:
                stop_cluster(self.cluster)
                self.cluster = None
