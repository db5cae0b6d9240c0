"""The ACL plan of a worker as Kafka's own `kafka-acls` commands and as Strimzi KafkaUser ACLs.

The plan (`flows.runtime.access`) comes from a worker built with the deployment's settings, so
its topic prefix, app id and enabled flows decide the names. `kafka up --secure` applies the
very argument lists `bizbus acl plan` prints; `bizbus deploy render k8s` puts the same grants
into KafkaUser resources.
"""

import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bizbus.flows.runtime.access import AccessPlan, Grant, plan_access
from bizbus.flows.settings import RuntimeSettings

__all__ = [
    "DEFAULT_OPERATOR",
    "DEFAULT_WORKER",
    "AclPrincipals",
    "acl_command_lines",
    "kafka_acls_arguments",
    "strimzi_acls",
    "worker_plan",
]

DEFAULT_WORKER = "bizbus-worker"
DEFAULT_OPERATOR = "bizbus-ops"


@dataclass(frozen=True)
class AclPrincipals:
    """The SCRAM user names the plan grants to (`User:<name>`)."""

    worker: str = DEFAULT_WORKER
    operator: str | None = DEFAULT_OPERATOR


def worker_plan(
    settings: RuntimeSettings, principals: AclPrincipals, *, create: bool = True
) -> AccessPlan:
    """Build the worker `settings` describe (no Kafka needed) and return its ACL plan."""
    from bizbus.flows.runtime.kafka_config import KafkaConnection
    from bizbus.flows.worker import build_worker, worker_topic_use
    from bizbus.schemas import KeyRing

    # Building declares the app's topics and stages; it connects to nothing.
    app, runtime = build_worker(
        settings, KafkaConnection(settings.kafka_bootstrap), keys=KeyRing.generate()
    )  # planning publishes nothing: any key will do
    use = worker_topic_use(app, runtime, settings)
    operator = f"User:{principals.operator}" if principals.operator else None
    return plan_access(use, worker=f"User:{principals.worker}", operator=operator, create=create)


def _bundles(grants: Iterable[Grant]) -> dict[tuple[str, str, tuple[str, ...]], list[str]]:
    """Return resource names by (principal, resource type, operations), in plan order."""
    bundles: dict[tuple[str, str, tuple[str, ...]], list[str]] = {}
    for grant in grants:
        key = (grant.principal, grant.resource_type, grant.operations)
        bundles.setdefault(key, []).append(grant.name)
    return bundles


def kafka_acls_arguments(plan: AccessPlan) -> list[list[str]]:
    """Return `kafka-acls` arguments (after the connection options), one list per command.

    Grants with the same principal, resource type and operations share one command: the tool
    adds every operation on every resource it is given, so this is the plan, exactly.
    """
    commands = []
    for (principal, resource_type, operations), names in _bundles(plan.grants).items():
        arguments = ["--add", "--allow-principal", principal, "--allow-host", "*"]
        for operation in operations:
            arguments += ["--operation", operation]
        for name in names:
            arguments += [f"--{resource_type}", name]
        commands.append(arguments)
    return commands


def acl_command_lines(
    plan: AccessPlan,
    *,
    bootstrap: str,
    command_config: str = "admin-client.properties",
    tool: str = "kafka-acls.sh",
) -> list[str]:
    """Return the plan as shell lines an administrator runs (Kafka's `kafka-acls.sh`)."""
    connect = [tool, "--bootstrap-server", bootstrap, "--command-config", command_config]
    return [shlex.join([*connect, *arguments]) for arguments in kafka_acls_arguments(plan)]


def strimzi_acls(plan: AccessPlan, principal: str) -> list[dict[str, Any]]:
    """Return `spec.authorization.acls` of the Strimzi KafkaUser of `principal`."""
    acls: list[dict[str, Any]] = []
    for (owner, resource_type, operations), names in _bundles(plan.grants).items():
        if owner != principal:
            continue
        acls += [
            {
                "resource": {"type": resource_type, "name": name, "patternType": "literal"},
                "operations": list(operations),
                "host": "*",
            }
            for name in names
        ]
    return acls
