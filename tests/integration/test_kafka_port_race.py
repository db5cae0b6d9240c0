"""A free port taken by someone else before Kafka binds it is retried on new ports."""

import socket
from pathlib import Path

import pytest

from bizbus.deploy.kafka import KafkaRuntimeSettings, start_cluster, stop_cluster
from bizbus.deploy.kafka import cluster as cluster_module


def test_start_retries_when_a_chosen_port_is_taken_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_free_ports = cluster_module.free_ports
    with socket.socket() as thief:
        thief.bind(("127.0.0.1", 0))
        thief.listen()
        stolen = thief.getsockname()[1]
        calls: list[int] = []

        def racy_free_ports(count: int) -> list[int]:
            calls.append(count)
            ports = real_free_ports(count)
            return [stolen, *ports[1:]] if len(calls) == 1 else ports

        monkeypatch.setattr(cluster_module, "free_ports", racy_free_ports)
        steps: list[str] = []
        cluster = start_cluster(KafkaRuntimeSettings(), run_dir=tmp_path, progress=steps.append)
    try:
        assert cluster.nodes[0].port != stolen
        assert "a port was taken meanwhile; retrying on other ports" in steps
    finally:
        stop_cluster(cluster)
