"""A process's CPU time, read from /proc: what one record costs, whatever else the machine runs.

Throughput on a shared machine moves with the neighbours' load; the CPU seconds the worker
itself spent per record barely do, so a change to the hot path shows in them when it cannot
show in events/s.
"""

import os
from pathlib import Path

__all__ = ["cpu_seconds"]

_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """Return the user + system CPU seconds `pid` has used so far (None: gone, or no /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # after the command name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / _TICKS_PER_S
