"""Least privilege on Kafka: which principal may read, write, create and describe what.

An AccessPlan is a list of grants (principal, topic or consumer group, operations), each on a
literal name: the worker reads the topics its stages consume, writes the topics its flows
declare they publish to (Declaration.emits, feeds), their dead letters and its own state
topics, creates every topic it prepares at start-up, and joins its two consumer groups (faust's
`<app id>` and the batch loop's `<app id>-batch`). An operator principal reads every topic for
`bizbus dlq` and `bizbus trace` and writes only where a replay or a release goes. The same plan
becomes `kafka-acls` commands, Strimzi `KafkaUser` ACLs and the ACLs `kafka up --secure` applies.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["AccessPlan", "Grant", "ResourceType", "TopicUse", "plan_access"]

ResourceType = Literal["topic", "group"]
_ORDER = ("Read", "Write", "Create", "Describe")


@dataclass(frozen=True, slots=True)
class Grant:
    """Operations one principal may perform on one literal resource (all hosts)."""

    principal: str
    """`User:<name>`, as Kafka's authorizer and `super.users` name principals."""
    resource_type: ResourceType
    name: str
    operations: tuple[str, ...]
    """Kafka ACL operations, in a fixed order (Read, Write, Create, Describe)."""


@dataclass(frozen=True)
class TopicUse:
    """How a worker uses topics, by physical name (the topic prefix applied).

    Attributes:
        reads: Topics its consumers read (stage inputs, its state and tick topics).
        writes: Topics it produces to (declared emits, feeds, dead letters, state, ticks).
        prepares: Topics it creates (when missing) and describes at start-up.
        groups: Its consumer groups.
        replayable: Topics an operator re-sends dead letters or releases holds to.
    """

    reads: frozenset[str]
    writes: frozenset[str]
    prepares: frozenset[str]
    groups: frozenset[str]
    replayable: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class AccessPlan:
    """Every grant of a deployment, sorted by principal, resource type and name."""

    grants: tuple[Grant, ...]

    def principals(self) -> list[str]:
        """Return the principals the plan grants anything to."""
        return sorted({grant.principal for grant in self.grants})

    def allowed(self, principal: str, operation: str, resource_type: ResourceType) -> set[str]:
        """Return the names `principal` may perform `operation` on."""
        return {
            grant.name
            for grant in self.grants
            if grant.principal == principal
            and grant.resource_type == resource_type
            and operation in grant.operations
        }


def _grants(
    principal: str, resource_type: ResourceType, uses: Mapping[str, Iterable[str]]
) -> list[Grant]:
    """Return one grant per resource from operation → names (Describe implied by any)."""
    by_name: dict[str, set[str]] = {}
    for operation, names in uses.items():
        for name in names:
            by_name.setdefault(name, set()).update((operation, "Describe"))
    return [
        Grant(principal, resource_type, name, tuple(op for op in _ORDER if op in ops))
        for name, ops in sorted(by_name.items())
    ]


def plan_access(
    use: TopicUse, *, worker: str, operator: str | None = None, create: bool = True
) -> AccessPlan:
    """Return the grants of the worker principal (and the operator's, when named).

    `create=False` leaves topic creation to someone else (Strimzi's Topic Operator): the worker
    then only describes the topics it prepares.
    """
    grants = _grants(
        worker,
        "topic",
        {
            "Read": use.reads,
            "Write": use.writes,
            "Create" if create else "Describe": use.prepares,
        },
    )
    grants += _grants(worker, "group", {"Read": use.groups})
    if operator is not None:
        grants += _grants(
            operator,
            "topic",
            {"Read": use.prepares | use.reads | use.writes, "Write": use.replayable},
        )
    return AccessPlan(tuple(grants))
