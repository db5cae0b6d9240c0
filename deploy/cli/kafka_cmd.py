"""`bizbus kafka up|down|status`: a local Kafka broker (or 3-node cluster) for dev and tests."""

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from bizbus.connectors.errors import ConfigError
from bizbus.deploy.access import DEFAULT_OPERATOR, DEFAULT_WORKER, kafka_acls_arguments, worker_plan
from bizbus.deploy.cli import acl_cmd
from bizbus.deploy.kafka import (
    KafkaCluster,
    KafkaRuntimeError,
    KafkaRuntimeSettings,
    start_cluster,
    stop_cluster,
)
from bizbus.deploy.kafka.cluster import apply_acl_commands
from bizbus.deploy.kafka.jars import ensure_jars
from bizbus.deploy.kafka.tls import create_tls_files
from bizbus.flows.settings import RuntimeSettings

app = typer.Typer(help="Run Apache Kafka (KRaft) from Maven Central jars, no Docker.")
console = Console(stderr=True, soft_wrap=True)  # paths and addresses stay on one line

RunDir = Annotated[
    Path | None, typer.Option(help="Folder for data, logs and state (default: in the cache).")
]


def _run_dir(run_dir: Path | None) -> Path:
    return run_dir or KafkaRuntimeSettings().resolved_run_dir()


@app.command()
def fetch() -> None:
    """Fetch the Kafka jars from Maven Central into the cache (a no-op once cached)."""
    try:
        with console.status("fetching Kafka jars from Maven Central"):
            folder = ensure_jars(KafkaRuntimeSettings())
    except KafkaRuntimeError as error:
        console.print(f"[red]error:[/red] {escape(str(error))}")
        raise typer.Exit(1) from None
    console.print(f"Kafka jars ready in {folder}")


@app.command()
def up(
    nodes: Annotated[int, typer.Option(help="1, or 3 for a replicated cluster.")] = 1,
    port: Annotated[int | None, typer.Option(help="First client port (default: free).")] = None,
    run_dir: RunDir = None,
    secure: Annotated[
        bool,
        typer.Option(
            "--secure",
            help="SASL_SSL with SCRAM users (admin, the worker's, the operator's), TLS "
            "certificates and the ACLs of `bizbus acl plan` for the worker BIZBUS_* describes.",
        ),
    ] = False,
    worker: acl_cmd.Worker = DEFAULT_WORKER,
    operator: acl_cmd.Operator = DEFAULT_OPERATOR,
) -> None:
    """Start a broker and print its bootstrap address once an admin client sees it."""
    settings = KafkaRuntimeSettings()
    began = time.monotonic()
    who = acl_cmd.principals(worker, operator)
    try:
        plan = worker_plan(RuntimeSettings(), who) if secure else None
        with console.status("starting Kafka") as status:
            cluster = start_cluster(
                settings,
                nodes=nodes,
                port=port,
                run_dir=_run_dir(run_dir),
                progress=lambda message: status.update(f"Kafka: {message}"),
                secure_users=[name for name in (who.worker, who.operator) if name]
                if secure
                else None,
            )
            if plan is not None:
                status.update("Kafka: applying the ACL plan")
                try:
                    apply_acl_commands(cluster, settings, kafka_acls_arguments(plan))
                except KafkaRuntimeError:
                    stop_cluster(cluster)
                    raise
    except (KafkaRuntimeError, ConfigError) as error:
        console.print(f"[red]error:[/red] {escape(str(error))}")
        raise typer.Exit(1) from None
    console.print(
        f"Kafka {len(cluster.nodes)}-node cluster ready in {time.monotonic() - began:.1f} s; "
        f"logs in {cluster.run_dir}. Stop it with `bizbus kafka down`."
    )
    if (security := cluster.security) is not None and plan is not None:
        console.print(
            f"SASL_SSL with SCRAM-SHA-512; {len(plan.grants)} ACL(s) of `bizbus acl plan` "
            "applied. Log in (passwords stay in these 0600 files) with `set -a; . FILE; set +a`:"
        )
        for user in (security.admin.name, *(u.name for u in security.users)):
            console.print(f"  {user}: {security.write_env_file(user, cluster.bootstrap)}")
    typer.echo(cluster.bootstrap)


@app.command()
def certs(
    folder: Annotated[Path, typer.Argument(help="Where to write ca.pem and broker-keystore.pem.")],
    host: Annotated[
        list[str] | None, typer.Option(help="A name the brokers are reached by (repeatable).")
    ] = None,
) -> None:
    """Write a new CA and a broker certificate (PEM) for a secure cluster, e.g. the compose one."""
    files = create_tls_files(folder, hosts=tuple(host or ("127.0.0.1", "localhost")))
    console.print(f"CA: {files.ca_file}; broker key and certificate: {files.keystore_file}")


@app.command()
def down(run_dir: RunDir = None) -> None:
    """Stop the broker started by `bizbus kafka up`."""
    cluster = KafkaCluster.load(_run_dir(run_dir))
    if cluster is None:
        console.print("No broker is recorded as running; nothing to stop.")
        return
    killed = stop_cluster(cluster)
    note = f" (node(s) {killed} did not stop in time and were killed)" if killed else ""
    console.print(f"Stopped Kafka at {cluster.bootstrap}{note}.")


@app.command()
def status(run_dir: RunDir = None) -> None:
    """Print the bootstrap address and which nodes run; exit 1 when none does."""
    cluster = KafkaCluster.load(_run_dir(run_dir))
    if cluster is None:
        console.print("Kafka is not running (no state recorded).")
        raise typer.Exit(1)
    alive = [node for node in cluster.nodes if node.alive()]
    for node in cluster.nodes:
        state = "up" if node in alive else "DOWN"
        console.print(f"node {node.node_id}: {state} port {node.port} pid {node.pid}")
    if not alive:
        raise typer.Exit(1)
    typer.echo(cluster.bootstrap)
