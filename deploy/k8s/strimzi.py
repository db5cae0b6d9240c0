"""Strimzi resources (kafka.strimzi.io/v1beta2): the cluster, its node pool, topics and users.

A KafkaTopic per topic the worker prepares keeps partitions and configuration as the catalog
says (Strimzi's Topic Operator creates them, so the worker needs no Create ACL); a KafkaUser
per principal carries SCRAM-SHA-512 authentication and the plan's ACLs.
"""

from collections.abc import Mapping
from typing import Any

__all__ = ["STRIMZI_API", "kafka_cluster", "kafka_node_pool", "kafka_topic", "kafka_user"]

STRIMZI_API = "kafka.strimzi.io/v1beta2"
KAFKA_VERSION = "4.1.1"


def _labels(cluster: str) -> dict[str, str]:
    return {"strimzi.io/cluster": cluster}


def kafka_topic(
    name: str, partitions: int, replicas: int, config: Mapping[str, str], *, cluster: str
) -> dict[str, Any]:
    """Return the KafkaTopic of one topic (`spec.topicName` keeps dots the resource name drops)."""
    return {
        "apiVersion": STRIMZI_API,
        "kind": "KafkaTopic",
        "metadata": {"name": resource_name(name), "labels": _labels(cluster)},
        "spec": {
            "topicName": name,
            "partitions": partitions,
            "replicas": replicas,
            "config": dict(config),
        },
    }


def resource_name(topic: str) -> str:
    """Return a Kubernetes name for `topic` (lowercase, dots and underscores become dashes)."""
    return topic.lower().replace("_", "-").replace(".", "-").strip("-")[:253]


def kafka_user(name: str, acls: list[dict[str, Any]], *, cluster: str) -> dict[str, Any]:
    """Return the KafkaUser `name`: SCRAM-SHA-512 login, simple authorization with `acls`."""
    return {
        "apiVersion": STRIMZI_API,
        "kind": "KafkaUser",
        "metadata": {"name": name, "labels": _labels(cluster)},
        "spec": {
            "authentication": {"type": "scram-sha-512"},
            "authorization": {"type": "simple", "acls": acls},
        },
    }


def kafka_node_pool(*, cluster: str, replicas: int, storage_gi: int) -> dict[str, Any]:
    """Return the KafkaNodePool of combined controller+broker nodes (KRaft)."""
    return {
        "apiVersion": STRIMZI_API,
        "kind": "KafkaNodePool",
        "metadata": {"name": "dual-role", "labels": _labels(cluster)},
        "spec": {
            "replicas": replicas,
            "roles": ["controller", "broker"],
            "storage": {
                "type": "jbod",
                "volumes": [
                    {"id": 0, "type": "persistent-claim", "size": f"{storage_gi}Gi",
                     "deleteClaim": False, "kraftMetadata": "shared"},
                ],
            },
        },
    }  # fmt: skip


def kafka_cluster(*, cluster: str, replicas: int) -> dict[str, Any]:
    """Return the Kafka resource: KRaft with node pools, a SCRAM+TLS listener, ACLs enforced."""
    min_isr = 2 if replicas >= 3 else 1
    factor = min(3, replicas)
    return {
        "apiVersion": STRIMZI_API,
        "kind": "Kafka",
        "metadata": {
            "name": cluster,
            "annotations": {"strimzi.io/node-pools": "enabled", "strimzi.io/kraft": "enabled"},
        },
        "spec": {
            "kafka": {
                "version": KAFKA_VERSION,
                "listeners": [
                    {"name": "tls", "port": 9093, "type": "internal", "tls": True,
                     "authentication": {"type": "scram-sha-512"}},
                ],
                "authorization": {"type": "simple"},
                "config": {
                    "auto.create.topics.enable": "false",
                    "default.replication.factor": factor,
                    "min.insync.replicas": min_isr,
                    "offsets.topic.replication.factor": factor,
                    "transaction.state.log.replication.factor": factor,
                    "transaction.state.log.min.isr": min_isr,
                },
            },
            "entityOperator": {"topicOperator": {}, "userOperator": {}},
        },
    }  # fmt: skip
