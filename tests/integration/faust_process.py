"""Run a small test faust app as a real `faust worker` process, started and stopped by a test."""

import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class FaustWorker:
    """Starts and stops a test faust app module as a real `faust worker` process."""

    def __init__(
        self, env: dict[str, str], log: Path, *, module: str = "tests.integration.faust_counter_app"
    ) -> None:
        self.env = env
        self.log = log
        self.module = module
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the worker and wait until it has recovered its table and says Ready."""
        offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.module, "worker",
                 "--loglevel", "info", "--without-web"],
                cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while b"[^Worker]: Ready" not in self.log.read_bytes()[offset:]:
            assert self.process.poll() is None, f"worker exited:\n{self.log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"worker not ready:\n{self.log.read_text()[-3000:]}"
            time.sleep(0.2)

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"worker ignored SIGTERM; log:\n{self.log.read_text()}")  # noqa: B904
