"""Check a Kafka connection before using it, and say in one line which setting is wrong.

aiokafka reports every failed bootstrap as "Unable to bootstrap from [...]", whether the broker
was down, the password wrong, the CA unknown or the protocol not the listener's. `check_access`
first opens one raw connection the way every client will (TLS, SASL handshake, login), so the
real cause is known, and names the `BIZBUS_KAFKA_*` setting to fix; then it counts the brokers
(the worker sizes its replication by them). Authorization failures come later, per request;
`denied` words them the same way.
"""

import ssl
from typing import Any

from aiokafka.conn import create_conn
from aiokafka.errors import (
    AuthenticationFailedError,
    KafkaConnectionError,
    KafkaError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)

from bizbus.connectors.errors import ConfigError
from bizbus.flows.runtime.kafka_config import KafkaConnection, admin_client

__all__ = ["KafkaAccessError", "check_access", "denied"]

_P = "BIZBUS_KAFKA_"


class KafkaAccessError(ConfigError):
    """Kafka cannot be reached or refuses us; the message names the setting to check."""


def denied(connection: KafkaConnection, what: str) -> str:
    """Return the one line saying Kafka denied `what` (e.g. "creating topic x") to us."""
    return (
        f"Kafka denied {connection.principal} {what}: grant it the ACLs `bizbus acl plan` "
        f"prints, or check {_P}SASL_USERNAME"
    )


def _hosts(bootstrap: str) -> list[tuple[str, int]]:
    hosts = []
    for item in bootstrap.split(","):
        host, _, port = item.strip().rpartition(":")
        if not host or not port.isdigit():
            raise KafkaAccessError(
                f"{_P}BOOTSTRAP={bootstrap!r}: {item.strip()!r} is not host:port; "
                "set it to host:port[,host:port]"
            )
        hosts.append((host.strip("[]"), int(port)))
    return hosts


def _explain(error: BaseException, connection: KafkaConnection, where: str) -> str | None:
    """Return the one-line cause of a failed connection attempt, None for 'nobody answers'."""
    security = connection.security
    if isinstance(error, ssl.SSLCertVerificationError):
        if "match" in str(error.verify_message or ""):
            return (
                f"the certificate of Kafka at {where} does not name that host "
                f"({error.verify_message}): reach it by a name it carries, or set "
                f"{_P}SSL_CHECK_HOSTNAME=false"
            )
        return (
            f"the certificate of Kafka at {where} is not trusted ({error.verify_message}): "
            f"set {_P}SSL_CAFILE to the CA that signed it"
        )
    if isinstance(error, ssl.SSLError):
        return (
            f"the TLS handshake with Kafka at {where} failed ({error.reason or error}): check "
            f"{_P}SECURITY_PROTOCOL={connection.protocol} (does that listener speak TLS?) "
            f"and {_P}SSL_*"
        )
    if isinstance(error, SaslAuthenticationFailed | AuthenticationFailedError):
        return (
            f"Kafka at {where} rejected the {security.sasl_mechanism} login of "
            f"{security.sasl_username!r}: check {_P}SASL_USERNAME and {_P}SASL_PASSWORD"
        )
    if isinstance(error, UnsupportedSaslMechanismError):
        return (
            f"Kafka at {where} does not offer SASL {security.sasl_mechanism}: check "
            f"{_P}SASL_MECHANISM"
        )
    if isinstance(error, KafkaConnectionError | ConnectionResetError | TimeoutError):
        return (
            f"Kafka at {where} closed the connection during the {connection.protocol} "
            f"handshake: the listener expects another protocol; check {_P}SECURITY_PROTOCOL"
        )
    if isinstance(error, OSError):
        return None
    return f"connecting to Kafka at {where} failed ({type(error).__name__}: {error})"


async def _probe(connection: KafkaConnection, host: str, port: int, timeout_ms: int) -> None:
    options: dict[str, Any] = connection.client_options()
    options.pop("bootstrap_servers")
    raw = await create_conn(host, port, request_timeout_ms=timeout_ms, **options)
    raw.close()


async def check_access(connection: KafkaConnection, *, timeout_s: float = 15.0) -> int:
    """Log in to Kafka the way every client will; return how many brokers the cluster has.

    Raises:
        KafkaAccessError: Nothing answers, TLS or the login failed, or the protocol is not the
            listener's; the message names the setting to check and never a secret.
    """
    timeout_ms = int(timeout_s * 1000)
    causes: list[str] = []
    for host, port in _hosts(connection.bootstrap):
        try:
            await _probe(connection, host, port, timeout_ms)
            break
        except (OSError, KafkaError, TimeoutError) as error:
            cause = _explain(error, connection, f"{host}:{port}")
            if cause is not None:
                raise KafkaAccessError(cause) from None
            causes.append(f"{host}:{port}")
    else:
        raise KafkaAccessError(
            f"nothing answers at {', '.join(causes)}: check {_P}BOOTSTRAP (is Kafka running there?)"
        )
    admin = admin_client(connection, request_timeout_ms=timeout_ms)
    try:
        await admin.start()
        brokers = (await admin.describe_cluster()).get("brokers", [])
    except (KafkaError, OSError, TimeoutError) as error:
        raise KafkaAccessError(
            f"Kafka at {connection.bootstrap} accepted the connection but not the first "
            f"request ({type(error).__name__}): check {_P}SECURITY_PROTOCOL="
            f"{connection.protocol} (a SASL listener needs SASL_SSL or SASL_PLAINTEXT)"
        ) from None
    finally:
        await admin.close()
    return len(brokers)
