"""Deployment tooling: a real Kafka broker from Maven Central jars and the sandbox systems."""
