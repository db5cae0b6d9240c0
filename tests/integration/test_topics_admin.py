"""The worker creates the whole topic catalog up front, with partitions and retention."""

import uuid

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from bizbus.flows.runtime.topics_admin import catalog_plans, ensure_topics
from bizbus.schemas import TOPICS


async def test_catalog_topics_are_created_once_with_their_partitions_and_cleanup_policy(
    kafka_bootstrap: str,
) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}."
    plans = catalog_plans(prefix)
    created = await ensure_topics(kafka_bootstrap, plans, replication_factor=1)
    assert sorted(created) == sorted(prefix + name for name in TOPICS)
    assert await ensure_topics(kafka_bootstrap, plans, replication_factor=1) == []

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_topics([prefix + "biz.sales.account"])
        configs = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, prefix + "biz.sales.account")]
        )
    finally:
        await admin.close()
    assert len(described["partitions"]) == TOPICS["biz.sales.account"].partitions
    entries = {entry[0]: entry[1] for entry in configs[0].resources[0][4]}
    assert entries["cleanup.policy"] == "compact"
