"""What every flow module needs, in one object: the app, settings, topics and the publisher.

Flow modules expose `register(ctx)`, which declares their agents on `ctx.app`; the worker builds
one FlowContext and registers the flows it runs. Handlers close over the context.
"""

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import faust

from bizbus.flows.connections import Connections
from bizbus.flows.runtime.faust_glue import dead_letter_sender, guarded_agent
from bizbus.flows.runtime.guard import EventGuard, Handler, RetryPolicy
from bizbus.flows.settings import RuntimeSettings

if TYPE_CHECKING:
    from bizbus.flows.runtime.polling import Poller
    from bizbus.flows.xref import Xref
from bizbus.schemas import TOPICS, Envelope, encode_record, make_event, topic_for
from bizbus.schemas.envelope import System
from bizbus.schemas.values import Payload


@dataclass
class FlowContext:
    """The worker's shared state; one per process."""

    app: faust.App
    settings: RuntimeSettings
    guards: dict[str, EventGuard] = field(default_factory=dict)
    poller: "Poller" = field(init=False)
    xref: "Xref" = field(init=False)
    connections: Connections = field(default_factory=Connections)
    # Every stage the flows declared, run or not (BIZBUS_STAGES may only name these).
    declared_stages: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        from bizbus.flows.runtime.polling import Poller
        from bizbus.flows.xref import Xref

        self.poller = Poller(self)
        self.xref = Xref(self)

    def topic_name(self, logical: str) -> str:
        """Return the physical name of a catalog topic (with the configured prefix)."""
        return self.settings.topic_prefix + logical

    def retry_policy(self) -> RetryPolicy:
        """Return the guard's retry policy from settings."""
        return RetryPolicy(
            max_attempts=self.settings.retry_max_attempts,
            first_delay_s=self.settings.retry_first_delay_s,
            auth_delay_s=self.settings.auth_retry_delay_s,
        )

    def runs(self, stage: str) -> bool:
        """Return whether this worker runs `stage` (BIZBUS_STAGES; empty runs every stage)."""
        selected = self.settings.selected_stages()
        return selected is None or stage in selected

    def agent(self, logical_topic: str, handler: Handler, *, name: str) -> EventGuard:
        """Declare a guarded agent on a catalog topic; its guard is kept for metrics.

        A stage BIZBUS_STAGES leaves out gets no agent (its topic is not subscribed); the guard
        returned is then unused, so flows declare their stages the same way either way.
        """
        self.declared_stages.add(name)
        if not self.runs(name):
            return EventGuard(dead_letter_sender(self.app), policy=self.retry_policy())
        spec = TOPICS.get(logical_topic)
        guard = guarded_agent(
            self.app,
            self.topic_name(logical_topic),
            handler,
            name=name,
            policy=self.retry_policy(),
            partitions=spec.partitions if spec else None,
            config=spec.config() if spec else None,
            dlq_config=dlq.config() if (dlq := TOPICS.get(logical_topic + ".dlq")) else None,
        )
        self.guards[name] = guard
        return guard

    async def publish(self, event: Envelope[Any], *, topic: str | None = None) -> None:
        """Send `event` to its catalog topic (or `topic`) and wait for the broker's ack."""
        key, value, headers = encode_record(event)
        name = self.topic_name(topic or topic_for(event.type))
        await self.app.producer.send_and_wait(
            name, key, value, partition=None, timestamp=None, headers=headers
        )


def follow_up(
    payload: Payload, cause: Envelope[Any], *, source: str, origin: System
) -> Envelope[Any]:
    """Return the event `payload` makes as a consequence of `cause`: same deal, caused by it."""
    return make_event(
        payload,
        source=source,
        correlationid=cause.correlationid,
        causationid=cause.id,
        origin=origin,
    )
