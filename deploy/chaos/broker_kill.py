"""R2: the partition leader SIGKILLed on a 3-node KRaft cluster while orders flow.

A cluster of its own (3 combined broker+controller nodes) and a stack of its own on it: the
sandboxes and one worker with the project's default settings, which must replicate every topic
3 times. Each kill takes the node leading partition 0 of `cmd.erp.sales-order`, then starts it
again. Targets: topics with fewer than 3 replicas 0, lost 0 and duplicate ERP orders 0 (the
ERP's effects log), records repeated on the order topics 0 (acknowledged once, stored once),
dead letters 0, worker crashes 0.
"""

import asyncio
from dataclasses import dataclass

from bizbus.deploy.chaos import verify
from bizbus.deploy.chaos.orders import OrderDesk, settle_in_erp
from bizbus.deploy.chaos.report import ScenarioResult
from bizbus.deploy.chaos.stack import ChaosStack, Progress
from bizbus.deploy.chaos.worker_kill import ONCE_PER_ORDER, REDELIVERY_TOPICS
from bizbus.deploy.kafka import KafkaCluster, KafkaRuntimeSettings, start_cluster, stop_cluster
from bizbus.deploy.kafka.cluster import kill_node, restart_node
from bizbus.flows.runtime.kafka_config import admin_client

__all__ = ["BrokerKillPlan", "run_broker_kill"]

WATCHED = "cmd.erp.sales-order"


@dataclass(frozen=True)
class BrokerKillPlan:
    """How many orders flow and how many leader kills hit the cluster meanwhile."""

    orders: int
    kills: int
    seed: int


async def _replicas(bootstrap: str, topics: list[str]) -> dict[str, int]:
    """Return each topic's smallest replica count."""
    admin = admin_client(bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    return {t["topic"]: min(len(p["replicas"]) for p in t["partitions"]) for t in described}


async def _leader(bootstrap: str, topic: str) -> int:
    admin = admin_client(bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    leader: int = next(p["leader"] for p in described["partitions"] if p["partition"] == 0)
    return leader


async def _kill_leaders(
    cluster: KafkaCluster, side: ChaosStack, desk: OrderDesk, plan: BrokerKillPlan,
    progress: Progress,
) -> KafkaCluster:  # fmt: skip
    settings = KafkaRuntimeSettings()
    for number in range(plan.kills):
        share = (number + 1) / (plan.kills + 1)

        await side.wait_for(desk.placed_share(share, plan.orders),
                            what=f"{share:.0%} of the orders placed",
                            timeout_s=120 + plan.orders)  # fmt: skip
        leader = await _leader(cluster.bootstrap, side.topic(WATCHED))
        node = next(n for n in cluster.nodes if n.node_id == leader)
        progress(f"R2: SIGKILL {number + 1}/{plan.kills}: broker {leader}, leader of {WATCHED}-0")
        await asyncio.to_thread(kill_node, node)
        cluster = await asyncio.to_thread(restart_node, cluster, leader, settings)
    return cluster


async def run_broker_kill(
    stack: ChaosStack, plan: BrokerKillPlan, progress: Progress
) -> ScenarioResult:
    """Run orders through a worker on a 3-node cluster whose leader is killed; count."""
    result = ScenarioResult("R2", "partition leader SIGKILL, 3 nodes, defaults", n=plan.orders)
    run_dir = stack.run_dir / "r2"
    progress("R2: starting a 3-node Kafka cluster")
    cluster = await asyncio.to_thread(
        start_cluster, KafkaRuntimeSettings(), nodes=3, run_dir=run_dir / "kafka",
        progress=progress,
    )  # fmt: skip
    side = ChaosStack(run_dir, bootstrap=cluster.bootstrap, progress=progress)
    placing = None
    try:
        await asyncio.to_thread(side.start, 1)
        topics = await verify.run_topics(side.kafka, side.prefix, side.app_id)
        replicas = await _replicas(side.kafka, topics)
        result.zeros["topics with < 3 replicas"] = sum(n < 3 for n in replicas.values())
        desk = await OrderDesk(side.urls["crm"], side.urls["erp"]).open(side.wait_for)
        try:
            placing = asyncio.create_task(desk.place(plan.orders, per_s=8))
            cluster = await _kill_leaders(cluster, side, desk, plan, progress)
            orders = await placing

            counts = await settle_in_erp(side, orders, label="R2", progress=progress,
                                         timeout_s=120 + plan.orders / 5)  # fmt: skip
            result.lost, result.duplicated = counts.lost, counts.duplicated
            records = await verify.read_records(
                side.kafka, [side.topic(t) for t in REDELIVERY_TOPICS]
            )
            once = [r for r in records if dict(r.headers).get("ce_type") in ONCE_PER_ORDER]
            result.zeros["records stored twice"] = verify.keyed_surplus(once)
        finally:
            await desk.close(placing)
        result.dead_lettered = await verify.dead_letters(side.kafka, side.prefix)
        result.crashes = side.count_crashes()
        result.figures["topics checked"] = len(replicas)
        result.note = f"{plan.kills} leader kills"
    finally:
        await asyncio.to_thread(side.stop)
        # A node restarted before a failure is only in the saved state: stop what it names.
        await asyncio.to_thread(stop_cluster, KafkaCluster.load(run_dir / "kafka") or cluster)
    return result
