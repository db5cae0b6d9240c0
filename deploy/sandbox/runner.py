"""Start sandbox servers as local processes on loopback, find them again, and stop them.

Each server is `python -m deploy.sandbox serve NAME --port P --db FILE`; its requests are logged
to `<run_dir>/<name>.log`. State lives in `<run_dir>/sandbox.json` for `bizbus sandbox down`.
"""

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

from bizbus.deploy.kafka.cluster import free_ports
from bizbus.deploy.kafka.processes import is_alive, terminate
from bizbus.deploy.sandbox.registry import SYSTEMS, SandboxExtraMissingError, require_server_extra

STATE_FILE = "sandbox.json"
_MARKER = "deploy.sandbox serve"
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class SandboxError(RuntimeError):
    """A sandbox server could not be started or reached; the message says why."""


@dataclass(frozen=True)
class ServerProcess:
    """One running sandbox server."""

    name: str
    pid: int
    port: int
    log_path: str
    grpc_port: int | None = None

    @property
    def url(self) -> str:
        """Return the server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def grpc_address(self) -> str | None:
        """Return the server's gRPC `host:port` (the CRM's Pub/Sub API), or None."""
        return f"127.0.0.1:{self.grpc_port}" if self.grpc_port else None

    def alive(self) -> bool:
        """Return whether the server process still runs."""
        return is_alive(self.pid, marker=_MARKER)


@dataclass(frozen=True)
class SandboxStack:
    """Servers started together from one run directory."""

    run_dir: str
    servers: list[ServerProcess] = field(default_factory=list)

    @property
    def urls(self) -> dict[str, str]:
        """Return name → base URL."""
        return {server.name: server.url for server in self.servers}

    @property
    def grpc_addresses(self) -> dict[str, str]:
        """Return name → gRPC `host:port`, for the servers that serve gRPC."""
        return {s.name: s.grpc_address for s in self.servers if s.grpc_address is not None}

    def save(self) -> None:
        """Write the state file so other processes can find these servers."""
        Path(self.run_dir, STATE_FILE).write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, run_dir: Path) -> "SandboxStack | None":
        """Return the stack saved in `run_dir`, or None."""
        path = run_dir / STATE_FILE
        if not path.exists():
            return None
        raw = json.loads(path.read_text())
        return cls(raw["run_dir"], [ServerProcess(**s) for s in raw["servers"]])


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait_healthy(server: ServerProcess, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not server.alive():
            tail = Path(server.log_path).read_text(errors="replace").splitlines()[-20:]
            raise SandboxError(f"sandbox {server.name} exited during start-up:\n" + "\n".join(tail))
        try:
            if httpx.get(f"{server.url}/_sandbox/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SandboxError(f"sandbox {server.name} did not answer on {server.url} in {timeout_s} s")


def _grpc_port(name: str, ports: dict[str, int] | None, *, default_ports: bool) -> int | None:
    """The gRPC port of `name` (`ports["<name>-grpc"]`, the default, or a free one)."""
    default = SYSTEMS[name].grpc_default_port
    if default is None:
        return None
    port = (ports or {}).get(f"{name}-grpc") or (default if default_ports else 0)
    port = port or free_ports(1)[0]
    if _port_in_use(port):
        raise SandboxError(f"gRPC port {port} for sandbox {name} is in use; pick another port")
    return port


def _spawn(
    name: str,
    port: int,
    run_dir: Path,
    *,
    grpc_port: int | None,
    manual_clock: bool,
    env: dict[str, str] | None,
    seed: bool = True,
) -> ServerProcess:
    db_path = run_dir / f"{name}.db"
    log_path = run_dir / f"{name}.log"
    command = [sys.executable, "-m", "bizbus.deploy.sandbox", "serve", name,
               "--port", str(port), "--db", str(db_path)]  # fmt: skip
    if grpc_port is not None:
        command += ["--grpc-port", str(grpc_port)]
    if manual_clock:
        command.append("--manual-clock")
    if not seed:
        command.append("--no-seed")
    with log_path.open("ab") as log:  # a restarted server's lines follow its first life's
        process = subprocess.Popen(  # noqa: S603
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, env={**os.environ, **(env or {})},
        )  # fmt: skip
    _CHILDREN[process.pid] = process
    return ServerProcess(name, process.pid, port, str(log_path), grpc_port)


def start_sandbox(
    names: list[str],
    *,
    run_dir: Path,
    ports: dict[str, int] | None = None,
    manual_clock: bool = False,
    default_ports: bool = False,
    timeout_s: float = 30.0,
    env: dict[str, str] | None = None,
) -> SandboxStack:
    """Start the named servers with fresh databases and wait until each answers.

    Ports come from `ports`, else the registry's defaults when `default_ports`, else free ones
    (the CRM's Pub/Sub API gets a second port: `ports["crm-grpc"]`, 18104 or a free one).
    `env` adds environment variables (e.g. `BIZBUS_SANDBOX_ERP_STEP_S`) to the servers'.
    """
    unknown = [name for name in names if name not in SYSTEMS]
    if unknown:
        raise SandboxError(f"unknown sandbox system(s) {unknown}; choose from {list(SYSTEMS)}")
    try:
        require_server_extra()
    except SandboxExtraMissingError as error:
        raise SandboxError(str(error)) from None
    run_dir.mkdir(parents=True, exist_ok=True)
    servers = []
    for name in names:
        port = (ports or {}).get(name) or (SYSTEMS[name].default_port if default_ports else 0)
        port = port or free_ports(1)[0]
        if _port_in_use(port):
            raise SandboxError(
                f"port {port} for sandbox {name} is in use; stop what holds it "
                "(`bizbus sandbox status`) or pick another port"
            )
        for stale in [*run_dir.glob(f"{name}.db*"), *run_dir.glob(f"{name}.log")]:
            stale.unlink()
        grpc_port = _grpc_port(name, ports, default_ports=default_ports)
        servers.append(
            _spawn(name, port, run_dir, grpc_port=grpc_port, manual_clock=manual_clock, env=env)
        )
    stack = SandboxStack(str(run_dir), servers)
    stack.save()
    try:
        for server in servers:
            _wait_healthy(server, timeout_s)
    except BaseException:
        stop_sandbox(stack)
        raise
    return stack


def stop_sandbox(stack: SandboxStack) -> None:
    """Stop every server of the stack and forget its state."""
    pids = [server.pid for server in stack.servers]
    terminate(pids, marker=_MARKER, grace_s=5)
    for pid in pids:
        child = _CHILDREN.pop(pid, None)
        if child is not None:
            child.wait(timeout=5)
    Path(stack.run_dir, STATE_FILE).unlink(missing_ok=True)


def stop_server(server: ServerProcess) -> None:
    """Stop one server of a stack, keeping its database (an outage: connections refused)."""
    terminate([server.pid], marker=_MARKER, grace_s=5)
    child = _CHILDREN.pop(server.pid, None)
    if child is not None:
        child.wait(timeout=5)


def restart_server(
    stack: SandboxStack, name: str, *, env: dict[str, str] | None = None, timeout_s: float = 30.0
) -> SandboxStack:
    """Start a stopped server again on its port with its database; return the updated stack."""
    old = next(server for server in stack.servers if server.name == name)
    server = _spawn(name, old.port, Path(stack.run_dir), grpc_port=old.grpc_port,
                    manual_clock=False, env=env, seed=False)  # fmt: skip
    updated = SandboxStack(stack.run_dir, [server if s.name == name else s for s in stack.servers])
    updated.save()
    _wait_healthy(server, timeout_s)
    return updated
