"""What moves records from a source topic to a sink topic: a worker stage, or the raw pipe.

A `Runner` starts its process under fresh names (topic prefix, app id = consumer group), can be
SIGKILLed and started again with the same group, and cleans up its processes and topics. Stage
names and topics are parameters (`StageSpec`), so the runners outlive today's runtime.
"""

import asyncio
from abc import ABC, abstractmethod
from dataclasses import dataclass

from bizbus.deploy.bench import kafka_io
from bizbus.deploy.bench.stack import BenchStack, PipeProcess
from bizbus.deploy.demo.worker import WorkerProcess
from bizbus.flows.runtime.topics_admin import TopicPlan
from bizbus.flows.settings import RuntimeSettings
from bizbus.flows.worker import build_worker, worker_topics
from bizbus.schemas import TOPICS

__all__ = ["RESUME_TIMEOUT_S", "PipeRunner", "Runner", "StageSpec", "WorkerRunner"]

RESUME_TIMEOUT_S = 240.0  # a restarted runner may first wait out its dead predecessor


@dataclass(frozen=True)
class StageSpec:
    """One worker stage: the flows that declare it, its agent name and its catalog topics."""

    flows: str
    stage: str
    source: str
    sink: str

    def settings(self) -> dict[str, str]:
        """Return the worker settings that run this stage alone."""
        return {"BIZBUS_FLOWS": self.flows, "BIZBUS_STAGES": self.stage}


class Runner(ABC):
    """Moves records from `source` to `sink` under fresh `names`; subclasses say how."""

    kind = "runner"

    def __init__(self, stack: BenchStack, spec: StageSpec) -> None:
        self.stack = stack
        self.spec = spec
        self.names = stack.names(self.kind)
        self.source = self.names.topic(spec.source)
        self.sink = self.names.topic(spec.sink)

    @abstractmethod
    async def prepare(self) -> None:
        """Create the topics (before any record is written or any consumer joins)."""
        raise NotImplementedError

    @abstractmethod
    async def start(self) -> None:
        """Start a process and wait until it owns its partitions."""
        raise NotImplementedError

    @abstractmethod
    def kill(self) -> None:
        """SIGKILL the running process."""
        raise NotImplementedError

    @abstractmethod
    def diagnose(self) -> str:
        """Return what helps understand a stall (the tail of the process's log)."""
        raise NotImplementedError

    @abstractmethod
    def stop(self) -> None:
        """Stop this runner's processes (blocking: a worker may take seconds to leave)."""
        raise NotImplementedError

    async def cleanup(self) -> None:
        """Stop this runner's processes and delete its topics."""
        await asyncio.to_thread(self.stop)
        await kafka_io.delete_topics(self.stack.connection, self.names.owns)


class WorkerRunner(Runner):
    """The stage inside a real `bizbus worker` process, alone (`BIZBUS_STAGES`)."""

    kind = "w"

    def __init__(
        self, stack: BenchStack, spec: StageSpec, extra: dict[str, str] | None = None
    ) -> None:
        super().__init__(stack, spec)
        self.extra = extra or {}
        self.process: WorkerProcess | None = None
        self.started: list[WorkerProcess] = []

    async def prepare(self) -> None:
        """Create every topic the worker uses, as it would itself, before preloading."""
        settings = RuntimeSettings(
            kafka_bootstrap=self.stack.kafka,
            app_id=self.names.app_id,
            topic_prefix=self.names.prefix,
            flows=self.spec.flows,
            stages=self.spec.stage,
        )
        app, _ = build_worker(settings, keys=self.stack.pii[0])
        await kafka_io.create_topics(self.stack.connection, worker_topics(app, settings))

    async def start(self) -> None:
        """Start a worker (same app id after a crash) and wait for its ready line."""
        self.process = self.stack.worker(self.names, {**self.spec.settings(), **self.extra})
        self.started.append(self.process)
        await self.stack.start_worker(self.process)

    def kill(self) -> None:
        """SIGKILL the worker."""
        if self.process is not None:
            self.process.kill()

    def stop(self) -> None:
        """Stop every worker this runner started."""
        for process in self.started:
            process.stop(grace_s=15)

    def diagnose(self) -> str:
        """Return the worker's log tail."""
        if self.process is None:
            return "(no worker started)"
        return f"last lines of {self.process.log_path}:\n{self.process.log_tail(25)}"

    @property
    def pid(self) -> int | None:
        """Return the running worker's process id."""
        return self.process.process.pid if self.process and self.process.process else None


class PipeRunner(Runner):
    """The raw aiokafka pipe between topics with the stage's partition counts."""

    kind = "r"

    def __init__(self, stack: BenchStack, spec: StageSpec, *, count: int = 0) -> None:
        super().__init__(stack, spec)
        self.count = count
        self.process: PipeProcess | None = None
        self.started: list[PipeProcess] = []

    async def prepare(self) -> None:
        """Create source and sink with the catalog's partition counts."""
        plans = [
            TopicPlan(self.source, TOPICS[self.spec.source].partitions),
            TopicPlan(self.sink, TOPICS[self.spec.sink].partitions),
        ]
        await kafka_io.create_topics(self.stack.connection, plans)

    async def start(self) -> None:
        """Start a pipe (same group after a crash) and wait until it is assigned."""
        self.process = self.stack.pipe(self.names, self.source, self.sink, count=self.count)
        self.started.append(self.process)
        await self.process.ready(timeout_s=RESUME_TIMEOUT_S)

    def kill(self) -> None:
        """SIGKILL the pipe."""
        if self.process is not None:
            self.process.kill()

    def stop(self) -> None:
        """Stop every pipe this runner started."""
        for process in self.started:
            process.stop()

    def diagnose(self) -> str:
        """Return the pipe's output tail."""
        return self.process.tail() if self.process else "(no pipe started)"
