"""Sample a worker with py-spy while it works, and name the frames that spent the time.

py-spy (`pip install py-spy`) reads the process from outside; `--nonblocking` keeps it from
pausing the worker at every sample. The raw (collapsed-stack) output keeps every stack, so the
flame graph can still be drawn from it later; the summary here is own time per frame.
"""

import asyncio
import re
import shutil
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

__all__ = ["ProfilerMissingError", "own_time", "py_spy", "py_spy_path"]

SAMPLES_PER_S = 100
_LINE = re.compile(r":\d+\)$")


class ProfilerMissingError(RuntimeError):
    """py-spy is not installed."""


def py_spy_path() -> str:
    """Return py-spy's path (the venv's own first), or raise with how to install it."""
    beside = Path(sys.executable).with_name("py-spy")
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if found is None:
        raise ProfilerMissingError("--profile needs py-spy: pip install py-spy")
    return found


@asynccontextmanager
async def py_spy(pid: int, output: Path) -> AsyncIterator[None]:
    """Record `pid` into `output` (collapsed stacks) for as long as the block runs."""
    output.parent.mkdir(parents=True, exist_ok=True)
    process = await asyncio.create_subprocess_exec(
        py_spy_path(), "record", "--pid", str(pid), "--format", "raw", "--output", str(output),
        "--rate", str(SAMPLES_PER_S), "--nonblocking",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        yield
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        _, errors = await process.communicate()
        if not await asyncio.to_thread(output.exists):
            raise RuntimeError(f"py-spy wrote no profile: {errors.decode(errors='replace')[-500:]}")


def own_time(collapsed: Path, *, top: int = 10) -> list[tuple[str, float]]:
    """Return the `top` functions by own time (share of all samples) in a collapsed profile."""
    own: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frame = _LINE.sub(")", stack.rsplit(";", 1)[-1])  # one row per function, all its lines
        own[frame] += int(count)
        total += int(count)
    return [(frame, samples / total) for frame, samples in own.most_common(top)] if total else []
