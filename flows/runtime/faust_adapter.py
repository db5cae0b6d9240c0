"""Run flow declarations on faust: stages, tables, timers, pages, start-up tasks and feeds.

The one place that turns a flow's Declaration into running parts. A stage that calls systems
or keeps state is a faust agent with per-key lanes (`faust_stage.py`); a pure stage runs in the
batch loop outside faust (`batch_runner.py`), whose per-event cost faust cannot match. Both go
through the same rules: outages hold the stage at its system's gate, bad records become dead
letters and hold their key (`guard.py`, `holds.py`). Timers and tasks never let an error escape
(it would stop them for good): they log it and run again.
"""

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterable, Sequence
from typing import Any, Protocol, cast

import faust
from aiohttp import web
from faust.web import Request, Response

from bizbus.connectors.errors import ConfigError
from bizbus.connectors.registry import Connector, Role
from bizbus.flows.runtime.batch_delivery import Outgoing
from bizbus.flows.runtime.batch_runner import BatchRunner, BatchSettings
from bizbus.flows.runtime.batch_stage import batch_handler
from bizbus.flows.runtime.broadcast import BroadcastRunner
from bizbus.flows.runtime.deadletter import safe_reason
from bizbus.flows.runtime.faust_glue import dead_letter_sender
from bizbus.flows.runtime.faust_stage import FaustStage
from bizbus.flows.runtime.gates import Gates, GateTiming, Probe
from bizbus.flows.runtime.guard import GuardStats, StageGuard
from bizbus.flows.runtime.holds import HoldStore
from bizbus.flows.runtime.kafka_config import KafkaConnection, kafka_connection
from bizbus.flows.runtime.metrics import CONTENT_TYPE, METRICS_PATH, Metrics, worker_families
from bizbus.flows.runtime.polling import Poller
from bizbus.flows.runtime.readiness import FeedProgress, Readiness
from bizbus.flows.runtime.record import RawRecord
from bizbus.flows.runtime.seen import SeenKeys, seen_topic
from bizbus.flows.runtime.services import RuntimeServices, holds_topic, run_with_app
from bizbus.flows.runtime.spec import (
    Declaration,
    Emit,
    HintSource,
    PageSpec,
    PushSource,
    StageSpec,
    Table,
    TableSpec,
    TaskSpec,
    TimerSpec,
    WebRequest,
    deliver,
)
from bizbus.flows.runtime.trace_index import index_topic, input_links, output_hops
from bizbus.flows.runtime.tracing import setup_tracing, span_for_record, span_for_request
from bizbus.flows.runtime.web import Access, WebSurface, read_body, too_large
from bizbus.flows.settings import RuntimeSettings
from bizbus.schemas import TOPICS, KeyRing, encode_record, topic_for

log = logging.getLogger("bizbus.runtime")
POLL_STAGE = "poll"  # BIZBUS_STAGES' name for the change-feed poller
SYSTEMS = ("crm", "erp", "oa")


class Probes(Protocol):
    """Where gates find a system to probe: the worker's connections."""

    async def get(self, role: Role) -> Connector:
        """Return the opened connector of `role`."""
        ...


def _named(
    agent: Callable[[Any], Coroutine[Any, Any, None]], name: str
) -> Callable[[Any], Coroutine[Any, Any, None]]:
    async def run(stream: Any) -> None:
        await agent(stream)

    run.__name__ = run.__qualname__ = name  # faust names the agent's service after it
    return run


class FaustRuntime:
    """One worker's faust side: install flows' declarations, then `start()` feeds and readiness."""

    def __init__(
        self,
        app: faust.App,
        settings: RuntimeSettings,
        connections: Probes | None = None,
        kafka: KafkaConnection | None = None,
        *,
        web: WebSurface | None = None,
        keys: KeyRing | None = None,
        metrics: Metrics | None = None,
        pushes: Sequence[PushSource] = (),
        hints: Sequence[HintSource] = (),
    ) -> None:
        self.app = app
        self.metrics = metrics or Metrics()
        self.settings = settings
        self.keys = keys  # seals personal fields of what it publishes (None: tests only)
        self.web = web or WebSurface(settings)
        setup_tracing("bizbus-worker")
        self.index = index_topic(settings) if settings.trace_index else None
        self.connections = connections
        self.kafka = kafka or kafka_connection(settings.kafka_bootstrap)
        self.gates = Gates(
            self._probe,
            timing=GateTiming(
                first_s=settings.retry_first_delay_s, rejected_s=settings.auth_retry_delay_s
            ),
        )
        self.holds = HoldStore(self.kafka, holds_topic(settings))
        self.seen = SeenKeys(self.kafka, seen_topic(settings))
        self.stages: dict[str, FaustStage] = {}
        self.declared_stages: set[str] = set()  # every stage of the enabled flows, run or not
        self.pure: dict[str, list[StageSpec]] = {}  # physical topic -> pure stages on it
        self.pure_stats: dict[str, GuardStats] = {}  # pure stage -> its counters
        self.flow_of: dict[str, str] = {}  # stage -> the flow that declared it
        self.broadcast: dict[str, list[Any]] = {}  # physical topic -> broadcast handlers
        self.inputs: set[str] = set()  # physical topics the stages that run here read
        self.emits: set[str] = set()  # catalog topics the flows publish to (declared)
        self.batch: BatchRunner | None = None
        self.readiness: Readiness | None = None
        self._tables: dict[str, Any] = {}
        self.poller = Poller(
            app,
            ticks_topic=f"{settings.topic_prefix}{app.conf.id}-poll-ticks",
            interval_s=settings.poll_interval_s,
            partitions=settings.poll_partitions,
            publish=self.publish,
            gates=self.gates,
            idle_s={system: settings.poll_idle_s(system) for system in SYSTEMS},
            budgets={system: settings.daily_api_budget(system) for system in SYSTEMS},
            spent=self._calls,
            pushes=pushes,
            hints=hints,
        )
        for hint in hints:
            self._hint_page(hint)

    def _calls(self, system: str) -> int:
        count = getattr(self.connections, "calls", None)
        return int(count(system)) if callable(count) else 0

    def topic_name(self, logical: str) -> str:
        """Return the physical name of a catalog topic (with the configured prefix)."""
        return self.settings.topic_prefix + logical

    def _probe(self, role: str) -> Probe:
        async def ping() -> None:
            if self.connections is None:
                return  # nothing to call: the next try of the record is the probe
            connector = await self.connections.get(cast(Role, role))
            await connector.ping()

        return ping

    def open_tables(self, specs: Iterable[TableSpec]) -> dict[str, Table]:
        """Return the faust tables of `specs` by name, declaring each on first use."""
        for spec in specs:
            if spec.name not in self._tables:
                # faust tables keep keys and values as JSON unless their types say otherwise
                kind = self.app.GlobalTable if spec.global_ else self.app.Table
                self._tables[spec.name] = kind(spec.name, default=None, partitions=spec.partitions)
        return {spec.name: self._tables[spec.name] for spec in specs}

    def install(self, declaration: Declaration, *, flow: str = "") -> None:
        """Declare every stage, timer, page and task of a flow; hand its feeds to the poller.

        With BIZBUS_STAGES set, only the stages it names run (e.g. to benchmark one stage or to
        give some workers the stages of one system); the others are declared, not run. `flow`
        names the flow in metrics and log lines.
        """
        selected = self.settings.selected_stages()
        self.emits.update(declaration.emits, (feed.topic for feed in declaration.feeds))
        for stage in declaration.stages:
            self.declared_stages.add(stage.name)
            self.flow_of[stage.name] = flow
            if selected is None or stage.name in selected:
                self._stage(stage)
                for system in sorted(stage.systems):
                    self.gates[system]  # every needed system shows in the metrics from the start
        for timer in declaration.timers:
            self._timer(timer)
        for page in declaration.pages:
            self._page(page)
        for task in declaration.tasks:
            self._task(task)
        for feed in declaration.feeds:
            self.declared_stages.add(POLL_STAGE)
            if selected is None or POLL_STAGE in selected:
                self.poller.add(feed)

    def start(self) -> None:
        """Declare the poller, the batch loop, the services and readiness (flows installed).

        Raises:
            ConfigError: BIZBUS_STAGES names a stage no enabled flow declares.
        """
        unknown = sorted((self.settings.selected_stages() or frozenset()) - self.declared_stages)
        if unknown:
            raise ConfigError(
                f"BIZBUS_STAGES names unknown stage(s) {unknown}: the flows this worker runs "
                f"(BIZBUS_FLOWS) have {sorted(self.declared_stages)}"
            )
        poller = self.poller
        poller.register()
        feeds = (
            FeedProgress(
                poller.ticks_topic(),
                lambda: poller.feeds,
                poller.settled,
                poller.tick_partition,
            )
            if poller.feeds
            else None
        )
        if self.pure:
            self.batch = BatchRunner(
                self.kafka,
                group_id=f"{self.app.conf.id}-batch",
                handlers={
                    topic: batch_handler(
                        stages,
                        topic_name=self.topic_name,
                        holds=self.holds,
                        keys=self.keys,
                        stats=self.pure_stats,
                        flows=self.flow_of,
                        index=self.index,
                    )
                    for topic, stages in self.pure.items()
                },
                settings=BatchSettings(
                    session_timeout_ms=int(self.settings.session_timeout_s * 1000),
                    instance_id=self.settings.instance_id,
                ),
            )
        broadcast = BroadcastRunner(self.kafka, self.broadcast) if self.broadcast else None
        services = RuntimeServices(
            self.holds, self.batch, self.gates, self.seen, broadcast=broadcast,
            pushes=poller.stop_pushes,
        )  # fmt: skip
        self.app.task(run_with_app(self.app, services))
        self.app.on_rebalance_complete.connect(self._after_rebalance)
        self.readiness = Readiness(
            self.app, self.web, feeds, extra=services.waiting_for, refused=services.refused
        )
        self.readiness.register()
        self._export_metrics()

    def _export_metrics(self) -> None:
        """Serve `/metrics` (public unless BIZBUS_METRICS_PUBLIC=false) with the worker's parts."""
        metrics = self.metrics
        metrics.gates = self.gates
        inputs = self.inputs
        ticks = self.poller.ticks_topic()
        metrics.lag_of(
            self.app.conf.id, lambda: self.app.consumer, lambda t: t in inputs or t == ticks
        )
        if self.batch is not None:
            batch = self.batch
            metrics.lag_of(f"{self.app.conf.id}-batch", lambda: batch.consumer, inputs.__contains__)
        poller = self.poller
        metrics.extra.append(
            worker_families(
                passes=lambda: {feed: poller.passes.get(feed, 0) for feed in poller.feeds},
                polled=lambda: poller.polled,
                holds=lambda: len(self.holds.held()),
                ready=lambda: self.readiness is not None and self.readiness.state.ready,
                budgets=poller.budget_report,
            )
        )
        self.web.allow(
            METRICS_PATH, Access.PUBLIC if self.settings.metrics_public else Access.PRIVATE
        )

        class MetricsView(faust.web.View):
            async def get(self, request: Request, **_: Any) -> Response:
                return self.bytes(await metrics.render(), content_type=CONTENT_TYPE)

        self.app.page(METRICS_PATH, name="bizbus-metrics")(MetricsView)

    def _broadcast_handle(self, stage: StageSpec) -> Any:
        async def handle(record: RawRecord) -> None:
            with span_for_record(stage.name, record):
                outputs = await stage.handler(record)
            if any(not isinstance(output, Emit) for output in outputs):
                raise TypeError(f"broadcast stage {stage.name} wrote a table")
            await deliver(outputs, self.publish)

        return handle

    async def _after_rebalance(self, *_: Any, **__: Any) -> None:
        for stage in self.stages.values():
            stage.reapply_pause()

    async def publish(self, emit: Emit) -> None:
        """Send an emitted event to its topic and wait for the broker's ack.

        Raises:
            ConfigError: No enabled flow declares the topic (Declaration.emits), so the worker's
                ACLs, derived from the declarations, would not let it write there either.
        """
        key, value, headers = encode_record(emit.event, keys=self.keys)
        logical = emit.topic or topic_for(emit.event.type)
        if logical not in self.emits:
            raise ConfigError(
                f"{emit.event.type} goes to {logical}, which no enabled flow declares in its "
                "Declaration.emits: declare it (the worker's ACLs are derived from them)"
            )
        name = self.topic_name(logical)
        await self.app.producer.send_and_wait(
            name, key, value, partition=None, timestamp=None, headers=[*headers, *emit.headers]
        )
        if self.index is not None:
            await self._index(output_hops(self.index, [emit], self.topic_name))

    async def _index(self, hops: list[Outgoing]) -> None:
        """Send trace-index records without waiting for their acks.

        faust flushes its producer before it commits; a lost index record costs a line of
        `bizbus trace`, never an event, so it is logged, not retried.
        """
        for topic, key, value, _ in hops:
            ack = await self.app.producer.send(topic, key, value, None, None, None)
            asyncio.ensure_future(ack).add_done_callback(_log_index_failure)

    def _stage(self, stage: StageSpec) -> None:
        name = self.topic_name(stage.topic)
        self.inputs.add(name)
        flow = self.flow_of.get(stage.name, "")
        if stage.pure and self.settings.batch_pure_stages:
            self.pure.setdefault(name, []).append(stage)
            self.pure_stats[stage.name] = self.metrics.stage(
                flow, stage.name, "batch", GuardStats()
            )
            return
        if stage.broadcast:
            self.broadcast.setdefault(name, []).append(self._broadcast_handle(stage))
            return

        guard = StageGuard(
            stage.name,
            systems=stage.systems,
            gates=self.gates,
            holds=self.holds,
            dead_letter=dead_letter_sender(self.app),
            attempts_while_up=self.settings.retry_max_attempts,
            flow=flow,
        )
        stats = guard.stats

        async def handle(record: RawRecord) -> None:
            with span_for_record(stage.name, record):
                outputs = await stage.handler(record)
            await deliver(outputs, self.publish)
            if self.index is not None:
                emitted = [output for output in outputs if isinstance(output, Emit)]
                await self._index(input_links(self.index, record, emitted))
            stats.emitted += sum(1 for output in outputs if isinstance(output, Emit))

        in_flight = stage.max_in_flight or self.settings.stage_max_in_flight
        runner = FaustStage(
            self.app,
            name,
            guard,
            handle,
            max_in_flight=in_flight,
            high_water=max(self.settings.stage_high_water, in_flight),
        )
        self.stages[stage.name] = runner
        self.metrics.stage(flow, stage.name, "faust", stats, lambda: runner.lanes.backlog)
        spec = TOPICS.get(stage.topic)
        topic = self.app.topic(
            name,
            key_serializer="raw",
            value_serializer="raw",
            partitions=spec.partitions if spec else None,
            internal=True,
            config=spec.config() if spec else None,
        )
        self.app.agent(topic, name=stage.name)(_named(runner.agent, stage.name))

    def _timer(self, timer: TimerSpec) -> None:
        async def tick() -> None:
            try:
                await deliver(await timer.handler(), self.publish)
            except Exception as error:
                log.exception("timer %s failed, it runs again: %s", timer.name, safe_reason(error))

        self.app.timer(timer.interval_s, on_leader=timer.on_leader, name=timer.name)(tick)

    def _page(self, page: PageSpec) -> None:
        publish = self.publish
        limit = self.web.max_body
        self.web.allow(page.path, Access.PUBLIC if page.public else Access.PRIVATE)

        async def answer(view: faust.web.View, request: Request, **_: Any) -> Response:
            body = await read_body(cast(web.Request, request), limit)
            if body is None:
                return cast(Response, too_large())
            query = dict(cast(web.Request, request).query)
            asked = WebRequest(page.method, body, dict(request.headers), query)
            with span_for_request(f"{page.method} {page.path}", asked.headers):
                reply = await page.handler(asked, publish)
            return view.bytes(reply.body, status=reply.status, content_type=reply.content_type)

        view = type(page.name, (faust.web.View,), {page.method.lower(): answer})
        self.app.page(page.path, name=page.name)(view)

    def _hint_page(self, hint: HintSource) -> None:
        """Serve `POST <path>/<token>`: a valid notification makes the system's owner poll."""
        poller, limit = self.poller, self.web.max_body
        self.web.allow_secret(hint.path, hint.accepts)

        async def answer(view: faust.web.View, request: Request, **_: Any) -> Response:
            body = await read_body(cast(web.Request, request), limit)
            if body is None:
                return cast(Response, too_large())
            try:
                entity = hint.parse(body)
            except ValueError as error:
                log.warning("%s webhook refused: %s", hint.system, error)
                return view.bytes(b'{"msg":"malformed notification"}', status=400,
                                  content_type="application/json")  # fmt: skip
            try:
                sent = await poller.send_hint(hint.system, entity)
            except Exception as error:  # noqa: BLE001 - the safety poll still covers it
                log.warning("%s webhook hint not sent (%s): the safety poll will catch up",
                            hint.system, safe_reason(error))  # fmt: skip
                return view.bytes(b'{"msg":"retry later"}', status=503,
                                  content_type="application/json")  # fmt: skip
            status, reply = (202, b'{"msg":"accepted"}') if sent else (404, b'{"msg":"not found"}')
            return view.bytes(reply, status=status, content_type="application/json")

        name = f"{hint.system}-webhook"
        view = type(name, (faust.web.View,), {"post": answer})
        self.app.page(f"{hint.path}/{{token}}", name=name)(view)

    def _task(self, task: TaskSpec) -> None:
        async def run() -> None:
            delay = task.first_delay_s
            while True:
                try:
                    await task.handler()
                except asyncio.CancelledError:
                    raise
                except Exception as error:  # noqa: BLE001 - the worker must keep running
                    log.error(
                        "%s failed (%s)%s; retrying in %.0f s", task.name, safe_reason(error),
                        f"; {task.while_failing}" if task.while_failing else "", delay,
                    )  # fmt: skip
                    await asyncio.sleep(delay)
                    delay = min(task.max_delay_s, delay * 2)
                    continue
                return

        run.__name__ = run.__qualname__ = task.name
        self.app.task(run)


def _log_index_failure(ack: "asyncio.Future[Any]") -> None:
    if not ack.cancelled() and ack.exception() is not None:
        log.warning("a trace-index record was not written: %s", type(ack.exception()).__name__)
