"""Start, find and stop a local KRaft cluster of 1 or 3 combined broker+controller nodes.

State (pids, ports, log paths) is kept in `<run_dir>/cluster.json` so `bizbus kafka down` and
`status` work from another process. Start-up ends only when an admin client sees every broker.
A secure cluster (`secure.py`) keeps its certificates and users in `<run_dir>/secure/`.
"""

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from aiokafka.errors import KafkaError

from bizbus.deploy.kafka.config import (
    LOG4J2_PROPERTIES,
    NodeSpec,
    new_cluster_id,
    render_server_properties,
)
from bizbus.deploy.kafka.errors import KafkaPortTakenError, KafkaRuntimeError
from bizbus.deploy.kafka.jars import ensure_jars
from bizbus.deploy.kafka.processes import is_alive, terminate
from bizbus.deploy.kafka.secure import ClusterSecurity, apply_acls
from bizbus.deploy.kafka.settings import KafkaRuntimeSettings
from bizbus.flows.runtime.kafka_config import KafkaConnection, admin_client

STATE_FILE = "cluster.json"
_PROCESS_MARKER = "kafka.Kafka"
Progress = Callable[[str], None]
# Nodes started by this process, kept so they are reaped (not warned about) when stopped here.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class NodeProcess:
    """One running node: its pid, ports and log file."""

    node_id: int
    pid: int
    port: int
    controller_port: int
    log_path: str

    def alive(self) -> bool:
        """Return whether the node's Java process still runs."""
        child = _CHILDREN.get(self.pid)
        if child is not None:  # started by this process: its exit status is the truth
            return child.poll() is None
        return is_alive(self.pid, marker=_PROCESS_MARKER)


@dataclass(frozen=True)
class KafkaCluster:
    """A started cluster, as saved in its run directory."""

    run_dir: str
    cluster_id: str
    nodes: list[NodeProcess] = field(default_factory=list)
    started_at: float = 0.0
    secure_dir: str | None = None
    """The `secure/` folder of a SASL_SSL cluster (certificates, users), None for PLAINTEXT."""

    @property
    def bootstrap(self) -> str:
        """Return the bootstrap servers string for clients."""
        return ",".join(f"127.0.0.1:{node.port}" for node in self.nodes)

    @property
    def security(self) -> ClusterSecurity | None:
        """Return the certificates and users of a secure cluster (None: PLAINTEXT)."""
        return ClusterSecurity.load(Path(self.secure_dir)) if self.secure_dir else None

    def connection(self, user: str | None = None) -> KafkaConnection:
        """Return a client connection: as `user` (default admin) on a secure cluster."""
        security = self.security
        if security is None:
            return KafkaConnection(self.bootstrap)
        return security.connection(self.bootstrap, *([user] if user else []))

    def save(self) -> None:
        """Write the state file so other processes can find this cluster."""
        Path(self.run_dir, STATE_FILE).write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, run_dir: Path) -> "KafkaCluster | None":
        """Return the cluster saved in `run_dir`, or None when there is none."""
        path = run_dir / STATE_FILE
        if not path.exists():
            return None
        raw = json.loads(path.read_text())
        nodes = [NodeProcess(**node) for node in raw.pop("nodes")]
        return cls(nodes=nodes, **raw)


def _noop(_: str) -> None:
    pass


def java_major_version(java: str) -> int:
    """Return the major version of `java`, or raise a runtime error saying how to get one."""
    path = shutil.which(java)
    if path is None:
        raise KafkaRuntimeError(
            f"Java ('{java}') is not on PATH. Kafka needs Java 17 or newer: "
            "apt-get install openjdk-17-jre-headless, or set BIZBUS_KAFKA_JAVA to a java binary."
        )
    out = subprocess.run([path, "-version"], capture_output=True, text=True, check=False)  # noqa: S603
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if match is None:
        raise KafkaRuntimeError(f"Could not read the version of {path}: {out.stderr.strip()}")
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def port_is_free(port: int) -> bool:
    """Return whether 127.0.0.1:`port` can be bound now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> list[int]:
    """Return `count` distinct ports that are free on loopback right now."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _plan_nodes(count: int, port: int | None, data_root: Path) -> list[NodeSpec]:
    if port is None:
        ports = free_ports(2 * count)
        client_ports, controller_ports = ports[:count], ports[count:]
    else:
        client_ports = [port + i for i in range(count)]
        taken = [p for p in client_ports if not port_is_free(p)]
        if taken:
            raise KafkaRuntimeError(
                f"Port(s) {', '.join(map(str, taken))} on 127.0.0.1 are already in use. "
                "Stop whatever holds them (`bizbus kafka status` shows a broker of ours) "
                "or choose another --port."
            )
        controller_ports = free_ports(count)
    return [
        NodeSpec(i + 1, client_ports[i], controller_ports[i], data_root / f"node-{i + 1}")
        for i in range(count)
    ]


def _log_tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log written)"
    return "\n".join(text[-lines:])


def _java_base(settings: KafkaRuntimeSettings, jars: Path, run_dir: Path) -> list[str]:
    java = shutil.which(settings.java) or settings.java
    return [
        java,
        "-Xms128m",
        f"-Xmx{settings.heap}",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-XX:+ExitOnOutOfMemoryError",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={run_dir / 'log4j2.properties'}",
        "-cp",
        f"{jars}/*",
    ]


def _format_storage(
    base: list[str],
    specs: list[NodeSpec],
    run_dir: Path,
    cluster_id: str,
    security: ClusterSecurity | None,
) -> None:
    formatters = []
    for spec in specs:
        command = [*base, "kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}",
                   "-c", str(run_dir / f"node-{spec.node_id}.properties"),
                   *(security.format_args() if security else [])]  # fmt: skip
        if len(specs) == 1:
            command.append("--standalone")
        formatters.append(
            subprocess.Popen(  # noqa: S603
                command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
        )
    for spec, formatter in zip(specs, formatters, strict=True):
        output, _ = formatter.communicate(timeout=120)
        if formatter.returncode != 0:
            shown = output[-2000:]
            for secret in [security.admin, *security.users] if security else []:
                shown = shown.replace(secret.password, "***")
            raise KafkaRuntimeError(f"Formatting storage of node {spec.node_id} failed:\n{shown}")


def _accepts_connections(bootstrap: str) -> bool:
    host, port = bootstrap.split(",")[0].rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


async def _brokers_seen(connection: KafkaConnection) -> int:
    if not _accepts_connections(connection.bootstrap):
        return 0  # spares the admin client's connection-refused log lines
    admin = admin_client(connection, request_timeout_ms=3000)
    try:
        await admin.start()
        description = await admin.describe_cluster()
        return len(description.get("brokers", []))
    except (TimeoutError, KafkaError, OSError):
        return 0
    finally:
        await admin.close()


def _wait_ready(cluster: KafkaCluster, timeout_s: float, progress: Progress) -> None:
    deadline = time.monotonic() + timeout_s
    told = -1  # brokers seen when progress last heard of it: one line per change, not per try
    while True:
        dead = [node for node in cluster.nodes if not node.alive()]
        if dead:
            node = dead[0]
            log_text = Path(node.log_path).read_text(errors="replace")
            error = (
                KafkaPortTakenError if "Address already in use" in log_text else KafkaRuntimeError
            )
            raise error(
                f"Kafka node {node.node_id} exited during start-up. "
                f"Last lines of {node.log_path}:\n{_log_tail(Path(node.log_path))}"
            )
        seen = asyncio.run(_brokers_seen(cluster.connection()))
        if seen >= len(cluster.nodes):
            return
        if time.monotonic() > deadline:
            log = Path(cluster.nodes[0].log_path)
            raise KafkaRuntimeError(
                f"Kafka did not answer an admin client at {cluster.bootstrap} within "
                f"{timeout_s:.0f} s ({seen}/{len(cluster.nodes)} brokers seen). "
                f"Last lines of {log}:\n{_log_tail(log)}"
            )
        if seen != told:
            progress(f"waiting for brokers ({seen}/{len(cluster.nodes)} up)")
            told = seen
        time.sleep(0.25)


def start_cluster(
    settings: KafkaRuntimeSettings,
    *,
    nodes: int = 1,
    port: int | None = None,
    run_dir: Path | None = None,
    progress: Progress = _noop,
    secure_users: Sequence[str] | None = None,
) -> KafkaCluster:
    """Format fresh storage, start `nodes` (1 or 3) KRaft nodes and wait until all answer.

    With `secure_users` (maybe empty) the cluster is secure (`secure.py`): SASL_SSL, SCRAM
    users `admin` and each of `secure_users`, the StandardAuthorizer and no ACL yet.
    """
    if nodes not in (1, 3):
        raise KafkaRuntimeError(f"--nodes must be 1 or 3, not {nodes}.")
    run_dir = run_dir or settings.resolved_run_dir()
    existing = KafkaCluster.load(run_dir)
    if existing is not None and any(node.alive() for node in existing.nodes):
        raise KafkaRuntimeError(
            f"A broker started from {run_dir} is already running at {existing.bootstrap}. "
            "Run `bizbus kafka down` first."
        )
    if (major := java_major_version(settings.java)) < 17:
        raise KafkaRuntimeError(f"Kafka 4 needs Java 17 or newer; '{settings.java}' is {major}.")
    progress("checking Kafka jars (first run downloads them from Maven Central)")
    jars = ensure_jars(settings)
    # Free ports are picked, released, then bound by Java: another process may take one in
    # between. With ports we chose, a lost race is retried on new ports.
    attempts = 3 if port is None else 1
    for attempt in range(1, attempts + 1):
        try:
            return _launch(
                settings, jars, run_dir, nodes=nodes, port=port, progress=progress,
                secure_users=secure_users,
            )  # fmt: skip
        except KafkaPortTakenError:
            if attempt == attempts:
                raise
            progress("a port was taken meanwhile; retrying on other ports")
    raise AssertionError("unreachable")  # pragma: no cover


def _spawn_node(base: list[str], run_dir: Path, node_id: int) -> int:
    """Start one node from its properties file, its output appended to its log; return its pid."""
    with (run_dir / f"node-{node_id}.log").open("ab") as log:
        process = subprocess.Popen(  # noqa: S603
            [*base, _PROCESS_MARKER, str(run_dir / f"node-{node_id}.properties")],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # outlives `bizbus kafka up`; Ctrl-C there won't kill it
        )
    _CHILDREN[process.pid] = process
    return process.pid


def kill_node(node: NodeProcess) -> None:
    """SIGKILL one node (a crashed broker: nothing flushed, no controlled shutdown)."""
    child = _CHILDREN.pop(node.pid, None)
    if child is not None:
        child.kill()  # SIGKILL only: a SIGTERM first would start a controlled shutdown
        child.wait(timeout=10)
    elif is_alive(node.pid, marker=_PROCESS_MARKER):
        os.kill(node.pid, signal.SIGKILL)


def restart_node(
    cluster: KafkaCluster, node_id: int, settings: KafkaRuntimeSettings
) -> KafkaCluster:
    """Start a stopped node again with its data and settings; return the updated cluster."""
    run_dir = Path(cluster.run_dir)
    base = _java_base(settings, ensure_jars(settings), run_dir)
    pid = _spawn_node(base, run_dir, node_id)
    nodes = [replace(n, pid=pid) if n.node_id == node_id else n for n in cluster.nodes]
    updated = replace(cluster, nodes=nodes)
    updated.save()
    return updated


def _launch(
    settings: KafkaRuntimeSettings,
    jars: Path,
    run_dir: Path,
    *,
    nodes: int,
    port: int | None,
    progress: Progress,
    secure_users: Sequence[str] | None,
) -> KafkaCluster:
    shutil.rmtree(run_dir / "data", ignore_errors=True)
    shutil.rmtree(run_dir / "secure", ignore_errors=True)
    (run_dir / "data").mkdir(parents=True)
    (run_dir / "log4j2.properties").write_text(LOG4J2_PROPERTIES)
    security = None
    if secure_users is not None:
        progress("creating certificates and SCRAM users")
        security = ClusterSecurity.create(run_dir / "secure", secure_users)
    specs = _plan_nodes(nodes, port, run_dir / "data")
    for spec in specs:
        extra = security.server_properties() if security else None
        path = run_dir / f"node-{spec.node_id}.properties"
        path.touch(mode=0o600)  # a secure node's file holds the admin's password
        path.write_text(render_server_properties(spec, specs, security=extra))
    base = _java_base(settings, jars, run_dir)
    cluster_id = new_cluster_id()
    progress("formatting storage")
    _format_storage(base, specs, run_dir, cluster_id, security)
    started: list[NodeProcess] = []
    for spec in specs:
        log_path = run_dir / f"node-{spec.node_id}.log"
        log_path.unlink(missing_ok=True)
        pid = _spawn_node(base, run_dir, spec.node_id)
        started.append(
            NodeProcess(spec.node_id, pid, spec.port, spec.controller_port, str(log_path))
        )
    cluster = KafkaCluster(
        str(run_dir), cluster_id, started, time.time(), str(security.folder) if security else None
    )
    cluster.save()
    try:
        _wait_ready(cluster, settings.start_timeout_s, progress)
    except BaseException:
        stop_cluster(cluster)
        raise
    return cluster


def stop_cluster(cluster: KafkaCluster, *, grace_s: float = 20.0) -> list[int]:
    """Stop every node (SIGTERM, then SIGKILL after `grace_s`); return the node ids killed."""
    by_pid = {node.pid: node.node_id for node in cluster.nodes}
    killed = terminate(list(by_pid), marker=_PROCESS_MARKER, grace_s=grace_s)
    for pid in by_pid:
        child = _CHILDREN.pop(pid, None)
        if child is not None and child.poll() is None:
            # terminate() could not confirm it by its command line, but it is ours for sure.
            child.terminate()
            try:
                child.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(timeout=30)
    Path(cluster.run_dir, STATE_FILE).unlink(missing_ok=True)
    return [by_pid[pid] for pid in killed]


def apply_acl_commands(
    cluster: KafkaCluster, settings: KafkaRuntimeSettings, commands: Iterable[Sequence[str]]
) -> int:
    """Apply `kafka-acls --add ...` argument lists to a secure cluster as admin; return the count.

    Raises:
        KafkaRuntimeError: The cluster is not secure, or a command failed.
    """
    security = cluster.security
    if security is None:
        raise KafkaRuntimeError(
            f"Kafka at {cluster.bootstrap} runs without an authorizer (PLAINTEXT): ACLs need "
            "`bizbus kafka up --secure`."
        )
    base = _java_base(settings, ensure_jars(settings), Path(cluster.run_dir))
    return apply_acls(base, security, cluster.bootstrap, commands)
