"""S2: Kafka over SASL_SSL with least-privilege ACLs: what a stranger and the worker can reach.

A secure one-node cluster of its own, as `bizbus kafka up --secure` starts it (TLS listener,
SCRAM users, the StandardAuthorizer), with the ACLs `bizbus acl plan` gives a worker running the
customers and orders flows. Every catalog topic is created as admin and given records to steal.
Then, counted from what the clients got back:
- plaintext clients try to log in and to read: every try refused, records read 0;
- a principal with a valid password and no ACL reads every topic and writes to each: records
  read 0, writes accepted 0;
- the worker's own principal reads the topics of flows it does not run (travel, catalog,
  leads) and writes to topics its flows never publish to: records read 0, writes accepted 0,
  while it still reads and writes its own (a control: the probes themselves work).
"""

import asyncio
import contextlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from bizbus.deploy.access import AclPrincipals, kafka_acls_arguments, worker_plan
from bizbus.deploy.chaos.report import ScenarioResult
from bizbus.deploy.chaos.stack import ChaosStack, Progress
from bizbus.deploy.kafka import KafkaCluster, KafkaRuntimeSettings, start_cluster, stop_cluster
from bizbus.deploy.kafka.cluster import apply_acl_commands
from bizbus.flows.runtime.kafka_access import KafkaAccessError, check_access
from bizbus.flows.runtime.kafka_config import KafkaConnection, consumer, producer
from bizbus.flows.runtime.topics_admin import catalog_plans, ensure_topics
from bizbus.flows.settings import RuntimeSettings
from bizbus.schemas import TOPICS

__all__ = ["SecurityPlan", "run_kafka_security"]

WORKER, OPERATOR, INTRUDER = "bizbus-worker", "bizbus-ops", "intruder"
FLOWS = "customers,orders"
PREFIX = "s2."
OWN = ("src.crm.order", "biz.sales.order")  # read and written by the worker: the control
FOREIGN_READS = ("biz.hr.travel", "src.erp.product", "biz.pricing.price", "biz.sales.lead")
FOREIGN_WRITES = ("biz.sales.lead", "biz.hr.travel", "cmd.crm.price-book-entry")
PROBE_TIMEOUT_MS = 5000


@dataclass(frozen=True)
class SecurityPlan:
    """How many plaintext attempts, and records put in each topic to be stolen."""

    plaintext_tries: int
    records_per_topic: int


async def _seed(admin: KafkaConnection, topics: list[str], count: int) -> None:
    writer = producer(admin, acks="all")
    await writer.start()
    try:
        sent = [
            await writer.send(topic, b'{"secret": true}', key=str(number).encode())
            for topic in topics
            for number in range(count)
        ]
        await asyncio.gather(*sent)
    finally:
        await writer.stop()


async def _read(connection: KafkaConnection, topics: Sequence[str]) -> int:
    """Return how many records `connection` could read from `topics` (0 when refused)."""
    reader = consumer(connection, enable_auto_commit=False, request_timeout_ms=PROBE_TIMEOUT_MS)
    got = 0
    try:
        await asyncio.wait_for(reader.start(), PROBE_TIMEOUT_MS / 1000)
        reader.assign([
            TopicPartition(topic, p)
            for topic in topics
            for p in range(TOPICS[topic.removeprefix(PREFIX)].partitions)
        ])  # fmt: skip
        await asyncio.wait_for(reader.seek_to_beginning(), PROBE_TIMEOUT_MS / 1000)
        for _ in range(3):
            batches = await reader.getmany(timeout_ms=1000)
            got += sum(len(records) for records in batches.values())
    except (KafkaError, OSError, TimeoutError):
        pass  # refused: what we count is what came back
    finally:
        with contextlib.suppress(KafkaError, OSError, TimeoutError):
            await asyncio.wait_for(reader.stop(), PROBE_TIMEOUT_MS / 1000)
    return got


async def _write(connection: KafkaConnection, topics: Sequence[str]) -> int:
    """Return how many of one record per topic the broker acknowledged from `connection`."""
    writer = producer(connection, acks="all", request_timeout_ms=PROBE_TIMEOUT_MS)

    async def one(topic: str) -> int:
        try:
            await asyncio.wait_for(writer.send_and_wait(topic, b"{}", key=b"probe"), 15)
        except (KafkaError, OSError, TimeoutError):
            return 0
        return 1

    try:
        await asyncio.wait_for(writer.start(), PROBE_TIMEOUT_MS / 1000)
        return sum(await asyncio.gather(*(one(topic) for topic in topics)))
    except (KafkaError, OSError, TimeoutError):
        return 0
    finally:
        with contextlib.suppress(KafkaError, OSError, TimeoutError):
            await asyncio.wait_for(writer.stop(), PROBE_TIMEOUT_MS / 1000)


async def _plaintext(bootstrap: str, tries: int) -> tuple[int, int]:
    """Return (tries refused, records read) for plaintext clients of the SASL_SSL listener."""
    plain = KafkaConnection(bootstrap)
    refused = 0
    for _ in range(tries):
        try:
            await check_access(plain, timeout_s=5)
        except KafkaAccessError:
            refused += 1
    return refused, await _read(plain, [PREFIX + OWN[0]])


@contextlib.contextmanager
def _aiokafka_quiet() -> Iterator[None]:
    """Silence aiokafka's own log while the probes run (restored afterwards)."""
    logger = logging.getLogger("aiokafka")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _secure(cluster: KafkaCluster, settings: RuntimeSettings, progress: Progress) -> None:
    plan = worker_plan(settings, AclPrincipals(worker=WORKER, operator=OPERATOR))
    commands = kafka_acls_arguments(plan)
    progress(f"S2: applying the worker's ACL plan ({len(commands)} kafka-acls runs)")
    apply_acl_commands(cluster, KafkaRuntimeSettings(), commands)


async def _probe(cluster: KafkaCluster, plan: SecurityPlan, progress: Progress) -> ScenarioResult:
    result = ScenarioResult("S2", "Kafka over SASL_SSL with ACLs")
    settings = RuntimeSettings(
        kafka_bootstrap=cluster.bootstrap, app_id="chaos-s2", topic_prefix=PREFIX, flows=FLOWS
    )
    await asyncio.to_thread(_secure, cluster, settings, progress)
    admin = cluster.connection()
    plans = catalog_plans(PREFIX)
    await ensure_topics(admin, plans, replication_factor=1)
    topics = sorted(topic.name for topic in plans)
    await _seed(admin, topics, plan.records_per_topic)
    progress(f"S2: {len(topics)} topics hold {plan.records_per_topic} record(s) each")

    refused, plain_read = await _plaintext(cluster.bootstrap, plan.plaintext_tries)
    result.zeros["plaintext tries let in"] = plan.plaintext_tries - refused
    result.zeros["records read in plaintext"] = plain_read

    intruder, worker = cluster.connection(INTRUDER), cluster.connection(WORKER)
    progress(f"S2: {INTRUDER} (no ACL) reads and writes each of {len(topics)} topics")
    result.zeros["records read without ACLs"] = await _read(intruder, topics)
    result.zeros["writes accepted without ACLs"] = await _write(intruder, topics)
    progress(f"S2: {WORKER} reaches for the topics of flows it does not run")
    result.zeros["other flows' records read by the worker"] = await _read(
        worker, [PREFIX + topic for topic in FOREIGN_READS]
    )
    result.zeros["writes outside the worker's flows"] = await _write(
        worker, [PREFIX + topic for topic in FOREIGN_WRITES]
    )
    own_read = await _read(worker, [PREFIX + topic for topic in OWN])
    own_written = await _write(worker, [PREFIX + topic for topic in OWN])
    result.zeros["control probes that failed"] = (own_read == 0) + (own_written < len(OWN))
    result.n = len(topics) * 2 + plan.plaintext_tries + len(FOREIGN_READS + FOREIGN_WRITES)
    result.figures["plaintext refused"] = f"{refused}/{plan.plaintext_tries}"
    result.figures["worker's own records read"] = own_read
    return result


async def run_kafka_security(
    stack: ChaosStack, plan: SecurityPlan, progress: Progress
) -> ScenarioResult:
    """Start a secure cluster, apply the worker's ACLs, probe it as strangers; count.

    aiokafka logs every refusal it meets (and retries some); the probes meet refusals on
    purpose, so its log is quiet while they run: the counts say what happened.
    """
    progress("S2: starting a secure Kafka node (SASL_SSL, SCRAM, ACLs)")
    cluster = await asyncio.to_thread(
        start_cluster, KafkaRuntimeSettings(), run_dir=stack.run_dir / "s2" / "kafka",
        secure_users=[WORKER, OPERATOR, INTRUDER], progress=progress,
    )  # fmt: skip
    try:
        with _aiokafka_quiet():
            return await _probe(cluster, plan, progress)
    finally:
        await asyncio.to_thread(stop_cluster, cluster)
