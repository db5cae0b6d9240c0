"""Create every catalog topic before the worker starts, with its partitions and retention.

A producer's first write to a topic that does not exist yet makes the broker auto-create it,
and aiokafka can stall other sends while it waits for that topic's metadata; on clusters with
auto-creation off the write would fail. So the worker creates the whole catalog up front.
"""

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from connectors.errors import ConfigError
from schemas import TOPICS

_OK = {0, 36}  # no error, TOPIC_ALREADY_EXISTS (another worker won the race)


async def ensure_topics(bootstrap: str, *, prefix: str, replication_factor: int) -> list[str]:
    """Create the catalog topics that are missing; return the names created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(
                prefix + spec.name,
                num_partitions=spec.partitions,
                replication_factor=replication_factor,
                topic_configs=spec.config(),
            )
            for spec in TOPICS.values()
            if prefix + spec.name not in existing
        ]
        if not missing:
            return []
        response = await admin.create_topics(missing)
    finally:
        await admin.close()
    failed = [(name, code, message) for name, code, message in _errors(response) if code not in _OK]
    if failed:
        name, code, message = failed[0]
        raise ConfigError(
            f"could not create topic {name} (Kafka error {code}: {message}); check "
            "BIZBUS_KAFKA_BOOTSTRAP, BIZBUS_REPLICATION_FACTOR and the broker's ACLs"
        )
    return [topic.name for topic in missing]


def _errors(response: object) -> list[tuple[str, int, str]]:
    rows = getattr(response, "topic_errors", [])
    return [(row[0], row[1], row[2] if len(row) > 2 else "") for row in rows]
