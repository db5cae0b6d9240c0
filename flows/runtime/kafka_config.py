"""How every Kafka client of bizbus connects: one settings class, one connection, one factory.

`BIZBUS_KAFKA_SECURITY_PROTOCOL` (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL), the SASL mechanism
(SCRAM-SHA-256/512, PLAIN) and credentials, and the TLS trust and client certificate become a
KafkaConnection; the faust app, the batch loop, the holds store, topic admin, dead-letter and
trace tools, `bizbus kafka` and the bench all build their clients from it, so none of them can
forget the credentials. faust needs them twice over: its SASL stays SASL_PLAINTEXT unless an
`ssl_context` comes with the credentials (faust.auth.SASLCredentials).
"""

import ssl
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from bizbus.connectors.errors import ConfigError
from bizbus.connectors.settings import describe_errors

__all__ = [
    "KafkaConnection",
    "KafkaSecuritySettings",
    "KafkaTarget",
    "admin_client",
    "as_connection",
    "consumer",
    "kafka_connection",
    "producer",
]

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"]
_PREFIX = "BIZBUS_KAFKA_"


class KafkaSecuritySettings(BaseSettings):
    """How the worker and the CLI authenticate to Kafka and check the brokers' certificates."""

    # An empty variable (as in deploy/.env.example) means "not set", not an empty path.
    model_config = SettingsConfigDict(env_prefix=_PREFIX, extra="ignore", env_ignore_empty=True)

    security_protocol: SecurityProtocol = Field(
        default="PLAINTEXT",
        description="the listener's protocol: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL",
    )
    sasl_mechanism: SaslMechanism = Field(
        default="SCRAM-SHA-512",
        description="SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN (SASL_* protocols only)",
    )
    sasl_username: str | None = Field(
        default=None, description="the SASL user (the Kafka principal User:<name>)"
    )
    sasl_password: SecretStr | None = Field(default=None, description="the SASL user's password")
    ssl_cafile: Path | None = Field(
        default=None,
        description="a PEM file of the CA(s) that signed the brokers' certificates "
        "(empty: the system's trust store)",
    )
    ssl_certfile: Path | None = Field(
        default=None, description="a PEM client certificate, for listeners that require one (mTLS)"
    )
    ssl_keyfile: Path | None = Field(
        default=None, description="the PEM private key of BIZBUS_KAFKA_SSL_CERTFILE"
    )
    ssl_key_password: SecretStr | None = Field(
        default=None, description="the password of BIZBUS_KAFKA_SSL_KEYFILE, if it is encrypted"
    )
    ssl_check_hostname: bool = Field(
        default=True,
        description="whether a broker's certificate must name the host it is reached at",
    )


@dataclass(frozen=True)
class KafkaConnection:
    """Where Kafka is and how to log in; builds the keyword arguments of every client.

    Attributes:
        bootstrap: `host:port[,host:port]`.
        security: The protocol, credentials and TLS files (no secret is ever printed).
    """

    bootstrap: str
    security: KafkaSecuritySettings = field(
        default_factory=lambda: KafkaSecuritySettings.model_construct()
    )

    @property
    def protocol(self) -> SecurityProtocol:
        """Return the security protocol."""
        return self.security.security_protocol

    @property
    def uses_sasl(self) -> bool:
        """Return whether clients log in with SASL."""
        return self.protocol.startswith("SASL_")

    @property
    def uses_tls(self) -> bool:
        """Return whether connections are encrypted."""
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def principal(self) -> str:
        """Return the principal the brokers see, as ACLs name it (`User:<name>`)."""
        if self.uses_sasl and self.security.sasl_username:
            return f"User:{self.security.sasl_username}"
        return "User:ANONYMOUS" if not self.uses_tls else "User:<certificate subject>"

    def describe(self) -> str:
        """Return how this connection logs in, for messages (never a secret)."""
        how: str = self.protocol
        if self.uses_sasl:
            how += f" ({self.security.sasl_mechanism} as {self.security.sasl_username})"
        return f"{how} to {self.bootstrap}"

    @cached_property
    def ssl_context(self) -> ssl.SSLContext | None:
        """Return the TLS context every client shares, or None without TLS.

        Raises:
            ConfigError: A TLS file is missing or unreadable (the message names its setting).
        """
        if not self.uses_tls:
            return None
        security = self.security
        cafile = _existing(security.ssl_cafile, "SSL_CAFILE")
        try:
            context = ssl.create_default_context(cafile=cafile)
        except (ssl.SSLError, OSError) as error:
            raise ConfigError(
                f"{_PREFIX}SSL_CAFILE={cafile} holds no usable PEM CA certificate ({error})"
            ) from None
        context.check_hostname = security.ssl_check_hostname
        certfile = _existing(security.ssl_certfile, "SSL_CERTFILE")
        if certfile is not None:
            keyfile = _existing(security.ssl_keyfile, "SSL_KEYFILE")
            password = security.ssl_key_password
            try:
                context.load_cert_chain(
                    certfile, keyfile, password.get_secret_value() if password else None
                )
            except (ssl.SSLError, OSError) as error:
                raise ConfigError(
                    f"{_PREFIX}SSL_CERTFILE/{_PREFIX}SSL_KEYFILE cannot be loaded ({error}); "
                    f"check them and {_PREFIX}SSL_KEY_PASSWORD"
                ) from None
        return context

    def check(self) -> "KafkaConnection":
        """Return self once the settings fit together, else raise one line naming the setting.

        Raises:
            ConfigError: Credentials are missing for SASL, a key has no certificate (or the
                other way round), or a TLS file is missing.
        """
        security = self.security
        if not self.bootstrap.strip():
            raise ConfigError("BIZBUS_KAFKA_BOOTSTRAP is empty: set it to host:port[,host:port]")
        if self.uses_sasl:
            for name in ("sasl_username", "sasl_password"):
                if not getattr(security, name):
                    raise ConfigError(
                        f"{_PREFIX}{name.upper()} is missing: {self.protocol} logs in with "
                        f"{security.sasl_mechanism}; set it, or change "
                        f"{_PREFIX}SECURITY_PROTOCOL"
                    )
        if (security.ssl_certfile is None) != (security.ssl_keyfile is None):
            raise ConfigError(
                f"{_PREFIX}SSL_CERTFILE and {_PREFIX}SSL_KEYFILE go together: set both or neither"
            )
        if not self.uses_tls and (security.ssl_cafile or security.ssl_certfile):
            raise ConfigError(
                f"{_PREFIX}SSL_* files are set but {_PREFIX}SECURITY_PROTOCOL={self.protocol} "
                "does not use TLS: choose SSL or SASL_SSL"
            )
        _ = self.ssl_context  # reads the files now, at start-up
        return self

    def client_options(self) -> dict[str, Any]:
        """Return the connection keyword arguments of an aiokafka client."""
        options: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap,
            "security_protocol": self.protocol,
        }
        if self.uses_tls:
            options["ssl_context"] = self.ssl_context
        if self.uses_sasl:
            password = self.security.sasl_password
            options |= {
                "sasl_mechanism": self.security.sasl_mechanism,
                "sasl_plain_username": self.security.sasl_username,
                "sasl_plain_password": password.get_secret_value() if password else None,
            }
        return options

    def faust_options(self) -> dict[str, Any]:
        """Return the broker keyword arguments of a faust App."""
        import faust  # here: tools that never build an app need not import faust

        options: dict[str, Any] = {"broker": f"kafka://{self.bootstrap}"}
        if self.uses_sasl:
            password = self.security.sasl_password
            # faust keeps SASL_PLAINTEXT unless the credentials carry the TLS context.
            options["broker_credentials"] = faust.SASLCredentials(
                username=self.security.sasl_username,
                password=password.get_secret_value() if password else None,
                ssl_context=self.ssl_context,
                mechanism=self.security.sasl_mechanism,
            )
        elif self.uses_tls:
            options["broker_credentials"] = faust.SSLCredentials(self.ssl_context)
        return options


KafkaTarget = KafkaConnection | str
"""A connection, or a bare bootstrap string: PLAINTEXT (tests and the local dev broker)."""


def as_connection(target: KafkaTarget) -> KafkaConnection:
    """Return `target` as a connection (a bare bootstrap string connects over PLAINTEXT)."""
    return target if isinstance(target, KafkaConnection) else KafkaConnection(target)


def kafka_connection(
    bootstrap: str, security: KafkaSecuritySettings | None = None
) -> KafkaConnection:
    """Return the checked connection to `bootstrap` with the security settings of the environment.

    Raises:
        ConfigError: A security setting is invalid, missing or its file unreadable.
    """
    if security is None:
        try:
            security = KafkaSecuritySettings()
        except ValidationError as error:
            raise ConfigError(
                describe_errors(KafkaSecuritySettings, error, prefix=_PREFIX)
            ) from None
    return KafkaConnection(bootstrap, security).check()


def admin_client(target: KafkaTarget, **options: Any) -> AIOKafkaAdminClient:
    """Return an admin client of `target` (not started)."""
    return AIOKafkaAdminClient(**as_connection(target).client_options(), **options)


def consumer(target: KafkaTarget, *topics: str, **options: Any) -> AIOKafkaConsumer:
    """Return a consumer of `target` (not started), subscribed to `topics` if any."""
    return AIOKafkaConsumer(*topics, **as_connection(target).client_options(), **options)


def producer(target: KafkaTarget, **options: Any) -> AIOKafkaProducer:
    """Return a producer of `target` (not started)."""
    return AIOKafkaProducer(**as_connection(target).client_options(), **options)


def _existing(path: Path | None, name: str) -> str | None:
    if path is None:
        return None
    if not path.is_file():
        raise ConfigError(f"{_PREFIX}{name}={path}: no such file; set it to a readable PEM file")
    return str(path)
