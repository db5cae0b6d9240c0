"""faust's partition assignor, made to notice topics missing from the leader's metadata.

faust assigns only topics the leader's metadata shows ("Ignoring missing topic") and aiokafka
refreshes that metadata every 5 minutes, so a topic created a moment too late stays unassigned
that long (no ticks, no polling). When an assignment misses subscribed topics, this assignor
logs them and refreshes the metadata every second until they appear; aiokafka then sees the
partition counts change and rejoins the group, and the next assignment includes them.
"""

import asyncio
import logging
from collections.abc import Mapping, MutableMapping
from typing import Any

from faust.assignor import PartitionAssignor

log = logging.getLogger("bizbus.assignor")
HEAL_INTERVAL_S = 1.0


def missing_topics(cluster: Any, member_metadata: Mapping[str, Any]) -> list[str]:
    """Return the topics some member subscribes to that `cluster` shows no partition of."""
    subscribed = {topic for metadata in member_metadata.values() for topic in metadata.subscription}
    return sorted(topic for topic in subscribed if not cluster.partitions_for_topic(topic))


class CheckedPartitionAssignor(PartitionAssignor):
    """faust's assignor plus a rejoin once topics missing from an assignment appear."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._healing: asyncio.Task[None] | None = None

    def assign(self, cluster: Any, member_metadata: MutableMapping[str, Any]) -> Any:
        """Assign as faust does; when topics are missing, start watching for them."""
        missing = missing_topics(cluster, member_metadata)
        if missing:
            log.warning(
                "the group's assignment misses %d topic(s) not yet in the metadata (%s); "
                "refreshing until they appear, then rejoining",
                len(missing),
                ", ".join(missing),
            )
            if self._healing is None or self._healing.done():
                # assign() runs on the consumer thread's loop, where the client lives.
                self._healing = asyncio.get_running_loop().create_task(self._heal(cluster, missing))
        return super().assign(cluster, member_metadata)

    async def _heal(self, cluster: Any, missing: list[str]) -> None:
        faust_consumer: Any = self.app.consumer
        consumer = faust_consumer._thread._ensure_consumer()  # the aiokafka consumer
        while any(not cluster.partitions_for_topic(topic) for topic in missing):
            await asyncio.sleep(HEAL_INTERVAL_S)
            await consumer._client.force_metadata_update()
        log.warning("topic(s) %s now in the metadata; rejoining the group", ", ".join(missing))
        consumer._coordinator.request_rejoin()
