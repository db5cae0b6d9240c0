"""Run flow declarations on faust: stages, tables, timers, pages, start-up tasks and feeds.

The one place that turns a flow's Declaration into faust agents, tables, timers and views. A
stage's Outputs are delivered inside its EventGuard: each Emit is sent and acked in order, the
Puts after it are applied, and only then is the event done (at-least-once: a retry runs the
handler again and delivers again; sinks are idempotent). Timers and tasks never let an error
escape (it would stop them for good): they log it and run again.
"""

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import faust
from faust.web import Request, Response

from bizbus.connectors.retry import RetryPolicy
from bizbus.flows.runtime.deadletter import safe_reason
from bizbus.flows.runtime.faust_glue import guarded_agent
from bizbus.flows.runtime.guard import GUARD_POLICY, EventGuard
from bizbus.flows.runtime.polling import Poller
from bizbus.flows.runtime.readiness import FeedProgress, Readiness
from bizbus.flows.runtime.record import RawRecord
from bizbus.flows.runtime.spec import (
    Declaration,
    Emit,
    PageSpec,
    StageSpec,
    Table,
    TableSpec,
    TaskSpec,
    TimerSpec,
    WebRequest,
    deliver,
)
from bizbus.flows.settings import RuntimeSettings
from bizbus.schemas import TOPICS, encode_record, topic_for

log = logging.getLogger("bizbus.runtime")


class FaustRuntime:
    """One worker's faust side: install flows' declarations, then `start()` feeds and readiness."""

    def __init__(self, app: faust.App, settings: RuntimeSettings) -> None:
        self.app = app
        self.settings = settings
        self.guards: dict[str, EventGuard] = {}
        self._tables: dict[str, Any] = {}
        self.poller = Poller(
            app,
            ticks_topic=f"{settings.topic_prefix}{app.conf.id}-poll-ticks",
            interval_s=settings.poll_interval_s,
            publish=self.publish,
        )

    def topic_name(self, logical: str) -> str:
        """Return the physical name of a catalog topic (with the configured prefix)."""
        return self.settings.topic_prefix + logical

    def retry_policy(self) -> RetryPolicy:
        """Return the guard's in-place retry policy (its budget: `bizbus.connectors.retry`)."""
        return replace(
            GUARD_POLICY,
            attempts=self.settings.retry_max_attempts,
            initial=self.settings.retry_first_delay_s,
            auth_hold=self.settings.auth_retry_delay_s,
        )

    def open_tables(self, specs: Iterable[TableSpec]) -> dict[str, Table]:
        """Return the faust tables of `specs` by name, declaring each on first use."""
        for spec in specs:
            if spec.name not in self._tables:
                # faust tables keep keys and values as JSON unless their types say otherwise
                kind = self.app.GlobalTable if spec.global_ else self.app.Table
                self._tables[spec.name] = kind(spec.name, default=None, partitions=spec.partitions)
        return {spec.name: self._tables[spec.name] for spec in specs}

    def install(self, declaration: Declaration) -> None:
        """Declare every stage, timer, page and task of a flow; hand its feeds to the poller."""
        for stage in declaration.stages:
            self._stage(stage)
        for timer in declaration.timers:
            self._timer(timer)
        for page in declaration.pages:
            self._page(page)
        for task in declaration.tasks:
            self._task(task)
        for feed in declaration.feeds:
            self.poller.add(feed)

    def start(self) -> None:
        """Declare the poller and the readiness endpoint (once every flow is installed)."""
        poller = self.poller
        poller.register()
        feeds = (
            FeedProgress(poller.ticks_topic(), lambda: poller.feeds, lambda: poller.passes)
            if poller.feeds
            else None
        )
        Readiness(self.app, feeds).register()

    async def publish(self, emit: Emit) -> None:
        """Send an emitted event to its topic and wait for the broker's ack."""
        key, value, headers = encode_record(emit.event)
        name = self.topic_name(emit.topic or topic_for(emit.event.type))
        await self.app.producer.send_and_wait(
            name, key, value, partition=None, timestamp=None, headers=[*headers, *emit.headers]
        )

    def _stage(self, stage: StageSpec) -> None:
        async def handle(record: RawRecord) -> None:
            await deliver(await stage.handler(record), self.publish)

        spec = TOPICS.get(stage.topic)
        dead_letters = TOPICS.get(stage.topic + ".dlq")
        self.guards[stage.name] = guarded_agent(
            self.app,
            self.topic_name(stage.topic),
            handle,
            name=stage.name,
            policy=self.retry_policy(),
            partitions=spec.partitions if spec else None,
            config=spec.config() if spec else None,
            dlq_config=dead_letters.config() if dead_letters else None,
        )

    def _timer(self, timer: TimerSpec) -> None:
        async def tick() -> None:
            try:
                await deliver(await timer.handler(), self.publish)
            except Exception as error:
                log.exception("timer %s failed, it runs again: %s", timer.name, safe_reason(error))

        self.app.timer(timer.interval_s, name=timer.name)(tick)

    def _page(self, page: PageSpec) -> None:
        publish = self.publish

        async def answer(view: faust.web.View, request: Request, **_: Any) -> Response:
            body = await view.read_request_content(request)
            asked = WebRequest(page.method, body, dict(request.headers))
            reply = await page.handler(asked, publish)
            return view.bytes(reply.body, status=reply.status, content_type=reply.content_type)

        view = type(page.name, (faust.web.View,), {page.method.lower(): answer})
        self.app.page(page.path, name=page.name)(view)

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
