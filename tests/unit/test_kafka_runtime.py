"""Pure parts of the Kafka runtime: rendered settings, cluster ids, and start-up refusals."""

import base64
import socket
from pathlib import Path

import pytest

from bizbus.deploy.kafka import KafkaRuntimeError, KafkaRuntimeSettings, start_cluster
from bizbus.deploy.kafka.cluster import free_ports, java_major_version, port_is_free
from bizbus.deploy.kafka.config import NodeSpec, new_cluster_id, render_server_properties


def _props(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines())


def test_cluster_id_is_16_bytes_urlsafe_base64_without_padding() -> None:
    cluster_id = new_cluster_id()
    assert len(cluster_id) == 22 and "=" not in cluster_id
    assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16
    assert new_cluster_id() != cluster_id


def test_single_node_uses_a_dynamic_quorum_and_replication_one(tmp_path: Path) -> None:
    node = NodeSpec(1, 9092, 9093, tmp_path)
    props = _props(render_server_properties(node, [node]))
    assert props["controller.quorum.bootstrap.servers"] == "127.0.0.1:9093"
    assert "controller.quorum.voters" not in props
    assert props["process.roles"] == "broker,controller"
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["min.insync.replicas"] == "1"
    assert props["listeners"].startswith("PLAINTEXT://127.0.0.1:9092")


def test_three_nodes_use_a_static_voter_list_rf3_and_min_isr_2(tmp_path: Path) -> None:
    nodes = [NodeSpec(i, 9000 + i, 9100 + i, tmp_path / str(i)) for i in (1, 2, 3)]
    props = _props(render_server_properties(nodes[1], nodes))
    assert props["controller.quorum.voters"] == (
        "1@127.0.0.1:9101,2@127.0.0.1:9102,3@127.0.0.1:9103"
    )
    assert "controller.quorum.bootstrap.servers" not in props
    assert props["node.id"] == "2"
    assert props["default.replication.factor"] == "3"
    assert props["min.insync.replicas"] == "2"
    assert props["transaction.state.log.min.isr"] == "2"


def test_free_ports_are_distinct_and_bindable() -> None:
    ports = free_ports(4)
    assert len(set(ports)) == 4
    assert all(port_is_free(port) for port in ports)


def test_a_taken_port_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(KafkaRuntimeError, match=rf"Port\(s\) {port} .* already in use"):
            start_cluster(KafkaRuntimeSettings(), port=port, run_dir=tmp_path)


def test_missing_java_names_the_setting_to_fix(tmp_path: Path) -> None:
    settings = KafkaRuntimeSettings(java="no-such-java-binary")
    with pytest.raises(KafkaRuntimeError, match="BIZBUS_KAFKA_JAVA"):
        start_cluster(settings, run_dir=tmp_path)


def test_cluster_size_other_than_one_or_three_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KafkaRuntimeError, match="1 or 3"):
        start_cluster(KafkaRuntimeSettings(), nodes=2, run_dir=tmp_path)


def test_machine_java_is_17_or_newer() -> None:
    assert java_major_version("java") >= 17
