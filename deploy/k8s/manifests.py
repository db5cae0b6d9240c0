"""Render the Kubernetes manifests of a bizbus deployment from the catalog, plan and settings.

Strimzi runs Kafka (KRaft node pool, SCRAM over TLS, ACLs enforced); its Topic Operator creates
one KafkaTopic per topic the worker prepares (same partitions and configuration as the worker
would create, replication sized by the cluster) and its User Operator one KafkaUser per
principal with the ACL plan (no Create: topics are the operator's). The workers run as a
StatefulSet so each pod's name is its static group membership (`BIZBUS_INSTANCE_ID`): a
restarted pod takes its partitions back at once, and its tables, kept in RocksDB on the pod's
own volume (a claim per pod), so it reads only the changelog records written since it stopped.
Non-secret settings live in a ConfigMap, credentials in a Secret template; Strimzi's own
secrets give the Kafka password and CA.
"""

from dataclasses import dataclass, field
from typing import Any

from bizbus.deploy.access import AclPrincipals, strimzi_acls, worker_plan
from bizbus.deploy.k8s.strimzi import kafka_cluster, kafka_node_pool, kafka_topic, kafka_user
from bizbus.flows.runtime.readiness import HEALTHZ_PATH, READY_PATH
from bizbus.flows.runtime.topics_admin import replication_for
from bizbus.flows.settings import RuntimeSettings

__all__ = ["K8sOptions", "render"]

DATADIR = "/var/lib/bizbus"
CA_DIR = "/etc/bizbus/kafka-ca"
# Probes run inside the container, so they need neither the Service nor the web token.
_PROBE = [
    "python", "-c",
    "import sys, urllib.request; "
    "sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:{port}{path}', timeout=3)"
    ".status == 200 else 1)",
]  # fmt: skip

# Every worker object carries these; the selectors of its StatefulSet, Service, PDB and
# monitor match them.
WORKER_LABELS = {"app.kubernetes.io/name": "bizbus", "app.kubernetes.io/component": "worker"}


@dataclass(frozen=True)
class K8sOptions:
    """What the operator chooses beyond the BIZBUS_* settings."""

    namespace: str = "bizbus"
    cluster: str = "bizbus"
    kafka_replicas: int = 3
    kafka_storage_gi: int = 100
    workers: int = 3
    worker_storage_gi: int = 5
    """Each worker's volume: its RocksDB tables (a copy of the changelogs it holds)."""
    image: str = "ghcr.io/bizbus/bizbus:0.1.0"
    principals: AclPrincipals = field(default_factory=AclPrincipals)


def _meta(name: str, options: K8sOptions, **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": options.namespace, "labels": dict(WORKER_LABELS), **extra}


def _worker_settings(settings: RuntimeSettings, options: K8sOptions) -> RuntimeSettings:
    """Return the settings the pods run with: Strimzi's bootstrap, datadir in the volume."""
    return settings.model_copy(
        update={
            "kafka_bootstrap": f"{options.cluster}-kafka-bootstrap:9093",
            "datadir": DATADIR,
            # The datadir is the pod's own claim: a restart keeps the tables, no full replay.
            "table_store": "rocksdb",
            "replication_factor": replication_for(options.kafka_replicas).factor,
        }
    )


def _config_map(settings: RuntimeSettings, options: K8sOptions) -> dict[str, Any]:
    data = {
        "BIZBUS_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "BIZBUS_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "BIZBUS_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "BIZBUS_KAFKA_SASL_USERNAME": options.principals.worker,
        "BIZBUS_KAFKA_SSL_CAFILE": f"{CA_DIR}/ca.crt",
        "BIZBUS_APP_ID": settings.app_id,
        "BIZBUS_TOPIC_PREFIX": settings.topic_prefix,
        "BIZBUS_FLOWS": settings.flows,
        "BIZBUS_DATADIR": str(settings.datadir),
        "BIZBUS_TABLE_STORE": settings.table_store,
        "BIZBUS_WEB_PORT": str(settings.web_port),
        "BIZBUS_WEB_BIND": "0.0.0.0",  # noqa: S104 - the OA's webhook arrives through the Service
        "BIZBUS_REPLICATION_FACTOR": str(settings.replication_factor),
        "BIZBUS_TOPIC_PARTITIONS": str(settings.topic_partitions),
        "BIZBUS_POLL_PARTITIONS": str(settings.poll_partitions),
        # One JSON object a line for the cluster's log collector (runtime/logs.py).
        "BIZBUS_LOG_FORMAT": "json",
    }
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta("bizbus-worker", options),
            "data": data}  # fmt: skip


SECRET_KEYS = (
    "BIZBUS_CRM_CLIENT_SECRET", "BIZBUS_ERP_API_KEY", "BIZBUS_OA_APP_SECRET",
    "BIZBUS_OA_ENCRYPT_KEY", "BIZBUS_OA_VERIFICATION_TOKEN",
    "BIZBUS_PII_KEYS", "BIZBUS_WEB_TOKEN",
)  # fmt: skip
"""The credentials the Secret template asks for: connectors', the personal-data keys
(`bizbus pii keygen`; a worker refuses to start without one) and the web views' token."""


def _secret(options: K8sOptions) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta("bizbus-connectors", options),
        "type": "Opaque",
        "stringData": {key: "CHANGE-ME" for key in SECRET_KEYS},
    }


def _stateful_set(settings: RuntimeSettings, options: K8sOptions) -> dict[str, Any]:
    probe = [*_PROBE[:2], _PROBE[2].format(port=settings.web_port, path=READY_PATH)]
    alive = [*_PROBE[:2], _PROBE[2].format(port=settings.web_port, path=HEALTHZ_PATH)]
    env = [
        # Static membership: the pod name survives a restart, so its partitions wait for it.
        {"name": "BIZBUS_INSTANCE_ID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "BIZBUS_KAFKA_SASL_PASSWORD", "valueFrom": {"secretKeyRef": {
            "name": options.principals.worker, "key": "password"}}},
    ]  # fmt: skip
    container = {
        "name": "worker",
        "image": options.image,
        "args": ["worker", "--loglevel", "info"],
        "envFrom": [{"configMapRef": {"name": "bizbus-worker"}},
                    {"secretRef": {"name": "bizbus-connectors"}}],
        "env": env,
        "ports": [{"name": "web", "containerPort": settings.web_port}],
        "readinessProbe": {"exec": {"command": probe}, "periodSeconds": 5, "failureThreshold": 3},
        # Alive = the event loop answers. Not ready (a rebalance, credentials a system refuses)
        # takes the pod out of the Service only: a restart would not fix either.
        "startupProbe": {"exec": {"command": alive}, "periodSeconds": 5, "failureThreshold": 60},
        "livenessProbe": {"exec": {"command": alive}, "periodSeconds": 10, "failureThreshold": 6},
        "resources": {"requests": {"cpu": "500m", "memory": "512Mi"},
                      "limits": {"memory": "1Gi"}},
        "securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False,
                            "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [{"name": "data", "mountPath": DATADIR},
                         {"name": "kafka-ca", "mountPath": CA_DIR, "readOnly": True},
                         {"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108 - a volume
    }  # fmt: skip
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": _meta("bizbus-worker", options),
        "spec": {
            "serviceName": "bizbus-worker",
            "replicas": options.workers,
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": dict(WORKER_LABELS)},
            "template": {
                "metadata": {"labels": dict(WORKER_LABELS)},
                "spec": {
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001,
                                        "fsGroup": 10001},
                    "terminationGracePeriodSeconds": 60,
                    "containers": [container],
                    "volumes": [
                        {"name": "tmp", "emptyDir": {}},
                        {"name": "kafka-ca", "secret": {
                            "secretName": f"{options.cluster}-cluster-ca-cert",
                            "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    ],
                },
            },
            # One volume per pod, kept across restarts and rescheduling: the RocksDB tables.
            "volumeClaimTemplates": [{
                "metadata": {"name": "data", "labels": dict(WORKER_LABELS)},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {
                    "requests": {"storage": f"{options.worker_storage_gi}Gi"}}},
            }],
        },
    }  # fmt: skip


def _service(settings: RuntimeSettings, options: K8sOptions) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta("bizbus-worker", options),
        "spec": {"clusterIP": "None", "selector": dict(WORKER_LABELS),
                 "ports": [{"name": "web", "port": settings.web_port, "targetPort": "web"}]},
    }  # fmt: skip


def _pdb(options: K8sOptions) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _meta("bizbus-worker", options),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": dict(WORKER_LABELS)}},
    }


def _service_monitor(options: K8sOptions) -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": _meta("bizbus-worker", options),
        "spec": {"selector": {"matchLabels": dict(WORKER_LABELS)},
                 "endpoints": [{"port": "web", "path": "/metrics", "interval": "30s"}]},
    }  # fmt: skip


def render(settings: RuntimeSettings, options: K8sOptions | None = None) -> list[dict[str, Any]]:
    """Return every manifest, Kafka first, in the order `kubectl apply -f` should meet them."""
    from bizbus.flows.runtime.kafka_config import KafkaConnection
    from bizbus.flows.worker import build_worker, worker_topics
    from bizbus.schemas import KeyRing

    options = options or K8sOptions()
    settings = _worker_settings(settings, options)
    replication = replication_for(options.kafka_replicas)
    app, _ = build_worker(
        settings, KafkaConnection(settings.kafka_bootstrap), keys=KeyRing.generate()
    )  # planning publishes nothing: any key will do
    topics = [
        kafka_topic(
            plan.name,
            plan.partitions,
            replication.factor,
            {**replication.topic_config(), **plan.config},
            cluster=options.cluster,
        )
        for plan in sorted(worker_topics(app, settings), key=lambda plan: plan.name)
    ]
    grants = worker_plan(settings, options.principals, create=False)
    users = [
        kafka_user(name, strimzi_acls(grants, f"User:{name}"), cluster=options.cluster)
        for name in (options.principals.worker, options.principals.operator)
        if name
    ]
    for resource in [*topics, *users]:
        resource["metadata"]["namespace"] = options.namespace
    cluster = [
        kafka_node_pool(
            cluster=options.cluster,
            replicas=options.kafka_replicas,
            storage_gi=options.kafka_storage_gi,
        ),
        kafka_cluster(cluster=options.cluster, replicas=options.kafka_replicas),
    ]
    for resource in cluster:
        resource["metadata"]["namespace"] = options.namespace
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": options.namespace}},
        *cluster,
        *topics,
        *users,
        _config_map(settings, options),
        _secret(options),
        _stateful_set(settings, options),
        _service(settings, options),
        _pdb(options),
        _service_monitor(options),
    ]
