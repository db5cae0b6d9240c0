"""Run `bizbus worker` as a child process: start it, wait until it is ready, stop it.

Ready is bizbus's own definition (flows.runtime.readiness): assigned, partitions fetched and
every feed polled once, not faust's "Ready", which comes before the group assigned anything.

Shared by the demo and the end-to-end tests; the worker's output goes to a log file whose tail
is shown when it fails.
"""

import signal
import subprocess
import sys
import time
from pathlib import Path

from bizbus.flows.runtime.readiness import READY_LOG


class WorkerProcess:
    """One `python -m bizbus.deploy worker` process with a given environment."""

    def __init__(self, env: dict[str, str], log_path: Path, *, cwd: Path | None = None) -> None:
        self.env = env
        self.log_path = log_path
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *, timeout_s: float = 90) -> None:
        """Start the worker and wait until it logs that it is ready (or fail with its log tail)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bizbus.deploy", "worker", "--loglevel", "info"],
                cwd=self.cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )  # fmt: skip
        deadline = time.monotonic() + timeout_s
        while READY_LOG.encode() not in self.log_path.read_bytes()[offset:]:
            if self.process.poll() is not None:
                raise RuntimeError(f"the worker exited during start-up:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"the worker was not ready in {timeout_s:.0f} s:\n{self.log_tail()}"
                )
            time.sleep(0.2)

    def alive(self) -> bool:
        """Return whether the worker process runs."""
        return self.process is not None and self.process.poll() is None

    def stop(self, *, grace_s: float = 30) -> int | None:
        """Stop the worker (SIGTERM, then SIGKILL after `grace_s`); return its exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL the worker, as a crash would: nothing flushed, committed or handed over."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def log_tail(self, lines: int = 60) -> str:
        """Return the last lines of the worker's log."""
        if not self.log_path.exists():
            return "(no worker log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
