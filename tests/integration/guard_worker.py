"""The dead-letter tests' worker (`faust_guard_app`, one guarded stage) and their CLI calls."""

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaConsumer

from bizbus.flows.runtime.topics_admin import TopicPlan, ensure_topics

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class GuardWorker:
    """A running guard worker: it forwards `source` to `out`, rejecting blocklisted values."""

    source: str
    out: str
    app_id: str
    blocklist: Path
    log: Path
    process: subprocess.Popen[bytes]

    @property
    def dlq(self) -> str:
        """Return the dead-letter topic of its stage."""
        return self.source + ".dlq"

    async def collect(self, consumer: AIOKafkaConsumer, count: int) -> list[bytes]:
        """Return the next `count` values `consumer` reads (fail with the worker log if not)."""
        values: list[bytes] = []
        try:
            async with asyncio.timeout(60):
                while len(values) < count:
                    assert self.process.poll() is None, "worker died"
                    batch = await consumer.getmany(timeout_ms=300)
                    values.extend(r.value for rs in batch.values() for r in rs)
        except (TimeoutError, AssertionError):
            raise AssertionError(self.log.read_text()[-3000:]) from None
        return values


@asynccontextmanager
async def guard_worker(
    bootstrap: str, tmp_path: Path, *, blocked: str = "poison"
) -> AsyncIterator[GuardWorker]:
    """Start a guard worker on fresh topics; stop it on exit and check it stopped cleanly."""
    suffix = uuid.uuid4().hex[:8]
    source, out = f"test.guard-in.{suffix}", f"test.guard-out.{suffix}"
    app_id = f"test-guard-{suffix}"
    holds = f"{app_id}-dead-letter-holds"  # where `bizbus dlq holds` looks for this app
    blocklist = tmp_path / "blocklist"
    blocklist.write_text(blocked)
    env = {
        **os.environ, "GUARD_APP_ID": app_id, "GUARD_BOOTSTRAP": bootstrap,
        "GUARD_DATADIR": str(tmp_path / "faust"), "GUARD_IN": source, "GUARD_OUT": out,
        "GUARD_BLOCKLIST": str(blocklist), "GUARD_HOLDS": holds,
    }  # fmt: skip
    plans = [
        TopicPlan(source, 1), TopicPlan(out, 1), TopicPlan(source + ".dlq", 1),
        TopicPlan(holds, 1, {"cleanup.policy": "compact"}),
    ]  # fmt: skip
    await ensure_topics(bootstrap, plans, replication_factor=1)
    log = tmp_path / "worker.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.faust_guard_app", "worker", "-l", "warn",
             "--without-web"],
            cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        yield GuardWorker(source, out, app_id, blocklist, log, process)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert process.returncode == 0, log.read_text()[-3000:]


def dlq(*args: str, bootstrap: str, app_id: str = "bizbus", **env: str) -> str:
    """Run `bizbus dlq ARGS` and return what it printed (it must succeed)."""
    result = subprocess.run(
        [sys.executable, "-m", "bizbus.deploy", "dlq", *args, "--bootstrap", bootstrap],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
        env={**os.environ, "COLUMNS": "200", "BIZBUS_APP_ID": app_id, **env},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


async def until_listed(bootstrap: str, line: str, *args: str, app_id: str = "bizbus") -> str:
    """Wait until `bizbus dlq ARGS` prints `line` (dead letters are written asynchronously)."""
    deadline = time.monotonic() + 60
    while line not in (printed := dlq(*args, bootstrap=bootstrap, app_id=app_id)):
        assert time.monotonic() < deadline, f"{line!r} never listed; last:\n{printed}"
        await asyncio.sleep(0.3)
    return printed
