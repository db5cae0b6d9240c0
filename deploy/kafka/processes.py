"""Small POSIX process helpers: liveness that sees through zombies and pid reuse, and stopping."""

import contextlib
import os
import signal
import time
from pathlib import Path


def is_alive(pid: int, *, marker: str | None = None) -> bool:
    """Return whether `pid` runs, and (if given) whether its command line contains `marker`.

    A child that exited is reaped here, so a zombie never counts as alive.
    """
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path("/proc") / str(pid)
    try:
        if proc.joinpath("stat").read_text().split(") ", 1)[1].startswith("Z"):
            return False
        cmdline = proc.joinpath("cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (OSError, IndexError):
        return True  # not Linux-like /proc: trust kill(0)
    # An empty cmdline means the kernel could not read it just now (a busy process): unknown,
    # so trust kill(0) rather than report a live broker dead and orphan it.
    return marker is None or not cmdline.strip() or marker in cmdline


def terminate(pids: list[int], *, marker: str, grace_s: float) -> list[int]:
    """SIGTERM every live pid, wait up to `grace_s`, then SIGKILL; return pids that were killed."""
    live = [pid for pid in pids if is_alive(pid, marker=marker)]
    for pid in live:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(is_alive(p, marker=marker) for p in live):
        time.sleep(0.1)
    killed = [pid for pid in live if is_alive(pid, marker=marker)]
    for pid in killed:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(is_alive(p, marker=marker) for p in killed):
        time.sleep(0.05)
    return killed
