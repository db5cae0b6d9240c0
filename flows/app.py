"""The one faust App of a bizbus worker, configured from RuntimeSettings.

At-least-once processing with idempotent sinks (never faust exactly_once: its rebalances
duplicate or crash); tables keep changelog topics, so state moves with partitions (held in
memory or in RocksDB under the datadir: `BIZBUS_TABLE_STORE`). The broker address and
credentials come from the one Kafka connection (`runtime.kafka_config`).
"""

import faust

from bizbus.flows.runtime.assignor import CheckedPartitionAssignor
from bizbus.flows.runtime.kafka_config import KafkaConnection, kafka_connection
from bizbus.flows.runtime.table_store import store_url
from bizbus.flows.runtime.web import WebSurface
from bizbus.flows.settings import RuntimeSettings


def create_app(
    settings: RuntimeSettings | None = None,
    kafka: KafkaConnection | None = None,
    web: WebSurface | None = None,
) -> faust.App:
    """Return a faust App for `settings` (read from the environment when not given).

    `web` guards the web server (paths, token, body limit); the runtime registers its paths.
    """
    settings = settings or RuntimeSettings()
    kafka = kafka or kafka_connection(settings.kafka_bootstrap)
    web = web or WebSurface(settings)
    return faust.App(
        settings.app_id,
        **kafka.faust_options(),
        store=store_url(settings),
        datadir=str(settings.datadir),
        processing_guarantee="at_least_once",
        topic_partitions=settings.topic_partitions,
        # The worker resolves the factor from the cluster before building the app (and creates
        # every topic itself); 1 serves tools that build an app and create nothing.
        topic_replication_factor=settings.replication_factor or 1,
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
