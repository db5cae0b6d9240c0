"""Kubernetes manifests rendered from the topic catalog, the ACL plan and the settings.

`bizbus deploy render k8s` writes a Strimzi Kafka cluster, a KafkaTopic per topic, KafkaUsers
holding the ACL plan, and the worker's StatefulSet, Service, PodDisruptionBudget, ConfigMap,
Secret template and ServiceMonitor.
"""
