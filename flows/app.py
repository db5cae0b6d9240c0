"""The one faust App of a bizbus worker, configured from RuntimeSettings.

At-least-once processing with idempotent sinks (never faust exactly_once: its rebalances
duplicate or crash); tables keep changelog topics, so state moves with partitions.
"""

import faust

from bizbus.flows.runtime.assignor import CheckedPartitionAssignor
from bizbus.flows.runtime.web import WebSurface
from bizbus.flows.settings import RuntimeSettings


def create_app(settings: RuntimeSettings | None = None, web: WebSurface | None = None) -> faust.App:
    """Return a faust App for `settings` (read from the environment when not given).

    `web` guards the web server (paths, token, body limit); the runtime registers its paths.
    """
    settings = settings or RuntimeSettings()
    web = web or WebSurface(settings)
    return faust.App(
        settings.app_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
        store="memory://",
        datadir=str(settings.datadir),
        processing_guarantee="at_least_once",
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.replication_factor,
        producer_acks=-1,
        consumer_auto_offset_reset="earliest",
        **web.faust_options(),
        key_serializer="raw",
        value_serializer="raw",
        PartitionAssignor=CheckedPartitionAssignor,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=settings.session_timeout_s / 4,
        consumer_group_instance_id=settings.instance_id,
        # A stop must not wait for agents' buffers to drain: a held stage may never drain them.
        stream_wait_empty=False,
    )
