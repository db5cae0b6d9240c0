"""Render server.properties and log4j2 settings for one KRaft node (combined broker+controller).

Defaults are sized for a laptop or a 2-core CI box: few partitions for internal topics and no
initial rebalance delay, so the first consumer group joins in well under a second.
"""

import base64
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class NodeSpec:
    """Ports and folders of one node."""

    node_id: int
    port: int
    controller_port: int
    data_dir: Path


def new_cluster_id() -> str:
    """Return a KRaft cluster id: 16 random bytes, URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(secrets.token_bytes(16)).rstrip(b"=").decode()


def render_server_properties(
    node: NodeSpec, cluster: list[NodeSpec], *, security: Mapping[str, str] | None = None
) -> str:
    """Return server.properties text for `node` in a cluster of `cluster` nodes.

    One node uses a dynamic quorum (format --standalone); three use a static voter list,
    because mixing the two makes `format` refuse. With `security` (TLS, SASL and authorizer
    settings, `secure.ClusterSecurity.server_properties`) clients and brokers meet on a
    SASL_SSL listener and the controller listener speaks TLS.
    """
    replication = min(3, len(cluster))
    min_isr = 2 if replication >= 3 else 1
    client, controller = ("SASL_SSL", "SSL") if security is not None else ("PLAINTEXT",) * 2
    settings: dict[str, str | int] = {
        "process.roles": "broker,controller",
        "node.id": node.node_id,
        "listeners": f"{client}://127.0.0.1:{node.port},CONTROLLER://127.0.0.1:{node.controller_port}",
        "advertised.listeners": f"{client}://127.0.0.1:{node.port}",
        "listener.security.protocol.map": f"{client}:{client},CONTROLLER:{controller}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": client,
        "log.dirs": str(node.data_dir),
        "num.partitions": 1,
        "default.replication.factor": replication,
        "min.insync.replicas": min_isr,
        "offsets.topic.replication.factor": replication,
        "offsets.topic.num.partitions": 4,
        "transaction.state.log.replication.factor": replication,
        "transaction.state.log.min.isr": min_isr,
        "transaction.state.log.num.partitions": 4,
        "share.coordinator.state.topic.replication.factor": replication,
        "share.coordinator.state.topic.min.isr": min_isr,
        "group.initial.rebalance.delay.ms": 0,
        # As on most production clusters: bizbus creates every topic it uses, and a test that
        # relied on a first write creating one would hide exactly that kind of start-up race.
        "auto.create.topics.enable": "false",
        "log.retention.hours": 24,
        "log.segment.bytes": 64 * 1024 * 1024,
    }
    if len(cluster) == 1:
        settings["controller.quorum.bootstrap.servers"] = f"127.0.0.1:{node.controller_port}"
    else:
        settings["controller.quorum.voters"] = ",".join(
            f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in cluster
        )
    settings.update(security or {})
    return "".join(f"{key}={value}\n" for key, value in settings.items())


LOG4J2_PROPERTIES = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
"""
