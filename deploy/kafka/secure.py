"""A secure local cluster: SASL_SSL for clients, mTLS between controllers, SCRAM users, ACLs.

Clients reach one `SASL_SSL` listener and log in with SCRAM (SHA-512 or SHA-256); brokers use it
too, as `admin`. The controller listener takes only TLS clients holding the broker certificate.
SCRAM credentials go into the metadata log when storage is formatted (`--add-scram`), so they
exist before the first broker starts. The StandardAuthorizer denies what no ACL allows; `admin`
and the broker certificate are super users, every other user gets only what an ACL plan grants.
Passwords live in `<run_dir>/secure/` (0600), in env files a worker or the CLI can source.
"""

import json
import secrets
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bizbus.deploy.kafka.errors import KafkaRuntimeError
from bizbus.deploy.kafka.tls import BROKER_SUBJECT, TlsFiles, create_tls_files
from bizbus.flows.runtime.kafka_config import KafkaConnection, KafkaSecuritySettings

ADMIN_USER = "admin"
CLIENT_LISTENER = "SASL_SSL"
MECHANISM = "SCRAM-SHA-512"
MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256")
_USERS_FILE = "users.json"
_ACL_COMMAND = "org.apache.kafka.tools.AclCommand"


@dataclass(frozen=True)
class ScramUser:
    """A SCRAM user of the cluster (the password never shows in a repr)."""

    name: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class ClusterSecurity:
    """TLS files and users of one secure cluster, kept in its `secure/` folder."""

    folder: Path
    tls: TlsFiles
    admin: ScramUser
    users: tuple[ScramUser, ...] = ()

    @classmethod
    def create(cls, folder: Path, users: Iterable[str]) -> "ClusterSecurity":
        """Write a new CA, broker certificate and a password per user (and `admin`)."""
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o700)
        names = [name for name in dict.fromkeys(users) if name != ADMIN_USER]
        for name in names:
            if not name.replace("-", "").replace(".", "").replace("_", "").isalnum():
                raise KafkaRuntimeError(f"SCRAM user name {name!r}: use letters, digits, . - _")
        security = cls(
            folder,
            create_tls_files(folder),
            ScramUser(ADMIN_USER, secrets.token_urlsafe(24)),
            tuple(ScramUser(name, secrets.token_urlsafe(24)) for name in names),
        )
        path = folder / _USERS_FILE
        path.touch(mode=0o600)
        path.write_text(
            json.dumps({user.name: user.password for user in (security.admin, *security.users)})
        )
        return security

    @classmethod
    def load(cls, folder: Path) -> "ClusterSecurity":
        """Return the security of the cluster whose `secure/` folder is `folder`."""
        passwords: dict[str, str] = json.loads((folder / _USERS_FILE).read_text())
        users = tuple(ScramUser(n, p) for n, p in passwords.items() if n != ADMIN_USER)
        tls = TlsFiles(folder / "ca.pem", folder / "broker-keystore.pem")
        return cls(folder, tls, ScramUser(ADMIN_USER, passwords[ADMIN_USER]), users)

    def user(self, name: str) -> ScramUser:
        """Return the user called `name`."""
        for user in (self.admin, *self.users):
            if user.name == name:
                return user
        raise KafkaRuntimeError(f"the secure cluster has no user {name!r}")

    def server_properties(self) -> dict[str, str]:
        """Return what a node's server.properties adds for TLS, SASL and the authorizer."""
        listener = CLIENT_LISTENER.lower()
        login = _jaas(self.admin)
        return {
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(self.tls.keystore_file),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.tls.ca_file),
            "listener.name.controller.ssl.client.auth": "required",
            "sasl.enabled.mechanisms": ",".join(MECHANISMS),
            "sasl.mechanism.inter.broker.protocol": MECHANISM,
            **{
                f"listener.name.{listener}.{mechanism.lower()}.sasl.jaas.config": login
                for mechanism in MECHANISMS
            },
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found": "false",
            "super.users": f"User:{ADMIN_USER};User:{BROKER_SUBJECT}",
        }

    def format_args(self) -> list[str]:
        """Return the `kafka-storage format` arguments that store every user's SCRAM secrets."""
        return [
            arg
            for user in (self.admin, *self.users)
            for mechanism in MECHANISMS
            for arg in ("--add-scram", f"{mechanism}=[name={user.name},password={user.password}]")
        ]

    def settings(self, user: ScramUser) -> KafkaSecuritySettings:
        """Return bizbus's client security settings for logging in as `user`."""
        return KafkaSecuritySettings.model_validate(
            {
                "security_protocol": "SASL_SSL",
                "sasl_mechanism": MECHANISM,
                "sasl_username": user.name,
                "sasl_password": user.password,
                "ssl_cafile": self.tls.ca_file,
            }
        )

    def connection(self, bootstrap: str, user: str = ADMIN_USER) -> KafkaConnection:
        """Return a client connection to the cluster as `user`."""
        return KafkaConnection(bootstrap, self.settings(self.user(user))).check()

    def env(self, user: str) -> dict[str, str]:
        """Return the `BIZBUS_KAFKA_*` variables (password included) that log in as `user`."""
        settings = self.settings(self.user(user))
        password = settings.sasl_password
        return {
            "BIZBUS_KAFKA_SECURITY_PROTOCOL": settings.security_protocol,
            "BIZBUS_KAFKA_SASL_MECHANISM": settings.sasl_mechanism,
            "BIZBUS_KAFKA_SASL_USERNAME": str(settings.sasl_username),
            "BIZBUS_KAFKA_SASL_PASSWORD": password.get_secret_value() if password else "",
            "BIZBUS_KAFKA_SSL_CAFILE": str(self.tls.ca_file),
        }

    def write_env_file(self, user: str, bootstrap: str) -> Path:
        """Write `<user>.env` (0600) for `set -a; . FILE` and return its path."""
        variables = {"BIZBUS_KAFKA_BOOTSTRAP": bootstrap, **self.env(user)}
        path = self.folder / f"{user}.env"
        path.touch(mode=0o600)
        path.write_text("".join(f"{key}={value}\n" for key, value in variables.items()))
        return path

    def java_client_properties(self) -> Path:
        """Write the admin's Java client config (for Kafka's own tools) and return its path."""
        path = self.folder / "admin-client.properties"
        path.touch(mode=0o600)
        path.write_text(
            f"security.protocol={CLIENT_LISTENER}\nsasl.mechanism={MECHANISM}\n"
            f"sasl.jaas.config={_jaas(self.admin)}\n"
            f"ssl.truststore.type=PEM\nssl.truststore.location={self.tls.ca_file}\n"
        )
        return path


def _jaas(user: ScramUser) -> str:
    return (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{user.name}" password="{user.password}";'
    )


def apply_acls(
    java_base: Sequence[str],
    security: ClusterSecurity,
    bootstrap: str,
    commands: Iterable[Sequence[str]],
) -> int:
    """Run Kafka's AclCommand once per `commands` entry (its `--add ...` arguments) as admin.

    aiokafka 0.14's admin client has no create_acls, so Kafka's own tool applies the plan, with
    exactly the arguments `bizbus acl plan` prints. Returns how many commands ran.

    Raises:
        KafkaRuntimeError: A command failed; its output's tail is in the message.
    """
    config = security.java_client_properties()
    count = 0
    for arguments in commands:
        command = [*java_base, _ACL_COMMAND, "--bootstrap-server", bootstrap,
                   "--command-config", str(config), *arguments]  # fmt: skip
        result = subprocess.run(  # noqa: S603 - our own java and arguments
            command, capture_output=True, text=True, check=False, timeout=120
        )
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).splitlines()[-10:])
            raise KafkaRuntimeError(f"kafka-acls {' '.join(arguments)} failed:\n{tail}")
        count += 1
    return count
