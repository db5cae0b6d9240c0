"""Run Apache Kafka 4.x (KRaft, no ZooKeeper) from Maven Central jars as local Java processes.

Used by `bizbus kafka up|down|status`, the test session and the demo; no Docker needed.
"""

from bizbus.deploy.kafka.cluster import KafkaCluster, NodeProcess, start_cluster, stop_cluster
from bizbus.deploy.kafka.errors import KafkaRuntimeError
from bizbus.deploy.kafka.settings import KafkaRuntimeSettings

__all__ = [
    "KafkaCluster",
    "KafkaRuntimeError",
    "KafkaRuntimeSettings",
    "NodeProcess",
    "start_cluster",
    "stop_cluster",
]
