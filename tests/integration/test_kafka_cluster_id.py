"""A cluster id that starts with '-' (1 in 64 of them) still formats and starts."""

from pathlib import Path

import pytest

from bizbus.deploy.kafka import KafkaRuntimeSettings, start_cluster, stop_cluster
from bizbus.deploy.kafka import cluster as cluster_module


def test_a_cluster_id_starting_with_a_dash_is_not_read_as_an_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cluster_module, "new_cluster_id", lambda: "-" + "A" * 21)
    cluster = start_cluster(KafkaRuntimeSettings(), run_dir=tmp_path)
    try:
        assert cluster.cluster_id.startswith("-")
        assert cluster.nodes[0].alive()
    finally:
        stop_cluster(cluster)
