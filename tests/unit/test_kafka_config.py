"""The one Kafka connection: settings checked in one line, the same login for every client."""

import ast
import ssl
from pathlib import Path
from typing import Any

import faust
import pytest

from bizbus.connectors.errors import ConfigError
from bizbus.deploy.kafka.tls import create_tls_files
from bizbus.flows.app import create_app
from bizbus.flows.runtime.kafka_config import (
    KafkaConnection,
    KafkaSecuritySettings,
    admin_client,
    consumer,
    kafka_connection,
    producer,
)
from bizbus.flows.runtime.topics_admin import replication_for
from bizbus.flows.settings import RuntimeSettings

ROOT = Path(__file__).resolve().parents[2]


def security(**values: Any) -> KafkaSecuritySettings:
    return KafkaSecuritySettings.model_validate(values)


@pytest.fixture(scope="module")
def ca_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return create_tls_files(tmp_path_factory.mktemp("tls")).ca_file


def scram(ca_file: Path, **values: Any) -> KafkaConnection:
    settings = {
        "security_protocol": "SASL_SSL",
        "sasl_username": "bizbus-worker",
        "sasl_password": "s3cret",
        "ssl_cafile": ca_file,
        **values,
    }
    return kafka_connection("127.0.0.1:9093", security(**settings))


def test_a_bare_bootstrap_is_plaintext_with_no_login() -> None:
    options = KafkaConnection("127.0.0.1:9092").client_options()
    assert options == {"bootstrap_servers": "127.0.0.1:9092", "security_protocol": "PLAINTEXT"}


async def test_sasl_ssl_gives_every_client_the_login_and_one_tls_context(ca_file: Path) -> None:
    connection = scram(ca_file)
    options = connection.client_options()
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == (
        "bizbus-worker",
        "s3cret",
    )
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    assert options["ssl_context"].check_hostname
    admin, reader, writer = admin_client(connection), consumer(connection), producer(connection)
    try:
        for client in (admin, reader, writer):
            inner = getattr(client, "_client", None) or client.client
            assert inner._security_protocol == "SASL_SSL"
            assert inner._sasl_plain_username == "bizbus-worker"
            assert inner._ssl_context is options["ssl_context"]
    finally:
        await admin.close()
        await reader.stop()
        await writer.stop()


def test_the_faust_app_logs_in_with_sasl_over_tls_not_plaintext(ca_file: Path) -> None:
    connection = scram(ca_file, sasl_mechanism="SCRAM-SHA-256")
    app = create_app(RuntimeSettings(kafka_bootstrap="127.0.0.1:9093"), connection)
    credentials = app.conf.broker_credentials
    assert isinstance(credentials, faust.SASLCredentials)
    # faust keeps SASL_PLAINTEXT unless the credentials carry an ssl_context
    assert credentials.protocol.value == "SASL_SSL"
    assert credentials.mechanism.value == "SCRAM-SHA-256"
    assert credentials.ssl_context is connection.ssl_context
    assert [str(url) for url in app.conf.broker] == ["kafka://127.0.0.1:9093"]


def test_the_password_never_shows_in_descriptions(ca_file: Path) -> None:
    connection = scram(ca_file)
    assert "s3cret" not in connection.describe() + repr(connection.security)
    assert connection.describe() == "SASL_SSL (SCRAM-SHA-512 as bizbus-worker) to 127.0.0.1:9093"
    assert connection.principal == "User:bizbus-worker"


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"sasl_password": None}, "BIZBUS_KAFKA_SASL_PASSWORD is missing"),
        ({"sasl_username": None}, "BIZBUS_KAFKA_SASL_USERNAME is missing"),
        ({"ssl_cafile": Path("/nonexistent/ca.pem")}, "BIZBUS_KAFKA_SSL_CAFILE=/nonexistent"),
        (
            {"ssl_certfile": Path("c.pem")},
            "BIZBUS_KAFKA_SSL_CERTFILE and BIZBUS_KAFKA_SSL_KEYFILE",
        ),
        ({"security_protocol": "SASL_PLAINTEXT"}, "does not use TLS"),
    ],
)
def test_a_bad_setting_is_named_in_one_line(
    ca_file: Path, values: dict[str, Any], named: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        scram(ca_file, **values)
    assert named in str(caught.value)
    assert "\n" not in str(caught.value) and "s3cret" not in str(caught.value)


def test_a_file_that_is_no_pem_ca_is_named(tmp_path: Path) -> None:
    junk = tmp_path / "ca.pem"
    junk.write_text("not a certificate")
    with pytest.raises(ConfigError, match=r"BIZBUS_KAFKA_SSL_CAFILE=.* no usable PEM"):
        kafka_connection("h:1", security(security_protocol="SSL", ssl_cafile=junk))


def test_an_unknown_protocol_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIZBUS_KAFKA_SECURITY_PROTOCOL", "SASL_TLS")
    with pytest.raises(ConfigError, match="BIZBUS_KAFKA_SECURITY_PROTOCOL is invalid"):
        kafka_connection("h:1")


def test_empty_variables_mean_not_set(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SSL_CAFILE", "SASL_USERNAME", "SASL_PASSWORD"):
        monkeypatch.setenv(f"BIZBUS_KAFKA_{name}", "")
    monkeypatch.setenv("BIZBUS_REPLICATION_FACTOR", "")
    assert kafka_connection("h:1").client_options()["security_protocol"] == "PLAINTEXT"
    assert RuntimeSettings().replication_factor is None


@pytest.mark.parametrize(
    ("brokers", "wanted", "factor", "min_insync"),
    [(1, None, 1, 1), (2, None, 2, 1), (3, None, 3, 2), (5, None, 3, 2), (3, 1, 1, 1)],
)
def test_replication_follows_the_cluster_unless_set(
    brokers: int, wanted: int | None, factor: int, min_insync: int
) -> None:
    replication = replication_for(brokers, wanted)
    assert (replication.factor, replication.min_insync) == (factor, min_insync)
    assert replication.topic_config() == {"min.insync.replicas": str(min_insync)}


CLIENTS = {"AIOKafkaConsumer", "AIOKafkaProducer", "AIOKafkaAdminClient"}


def test_every_kafka_client_is_built_by_the_one_factory() -> None:
    """Outside kafka_config.py no module of ours constructs an aiokafka client or a broker URL."""
    offenders = []
    factory = ROOT / "flows/runtime/kafka_config.py"
    for path in sorted([*ROOT.glob("flows/**/*.py"), *ROOT.glob("deploy/**/*.py")]):
        if path == factory:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            called = isinstance(node, ast.Call) and (
                getattr(node.func, "id", None) in CLIENTS
                or getattr(node.func, "attr", None) in CLIENTS
            )
            url = isinstance(node, ast.Constant) and "kafka://" in str(node.value)
            joined = isinstance(node, ast.JoinedStr) and any(
                isinstance(part, ast.Constant) and "kafka://" in str(part.value)
                for part in node.values
            )
            if called or url or joined:
                offenders.append(f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}")
    assert offenders == []
