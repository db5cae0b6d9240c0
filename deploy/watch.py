"""Waiting on a running worker's own counters instead of on the clock.

A check that nothing came back (no echo) must give the worker time to make the mistake: the
source system's feeds polled again since the write, and every record fetched handled. The
worker's `/metrics` says both, so the demo and the tests wait until they hold, on a busy laptop
as on a quiet one. A feed on push polls only when told (a webhook hint): `poke` tells it, after
the counters were first read, so the poll it makes is one the wait counts.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping

import httpx
from prometheus_client.parser import text_string_to_metric_families

__all__ = ["WorkerCounters", "polled_since", "read_counters", "wait_quiet"]


class WorkerCounters:
    """The figures of one `/metrics` scrape the quiet wait needs."""

    def __init__(self, passes: Mapping[str, float], pending: float) -> None:
        self.passes = dict(passes)
        self.pending = pending  # records fetched or waiting in topics, not yet handled

    @classmethod
    def parse(cls, text: str) -> "WorkerCounters":
        """Read poll passes per feed and the sum of consumer lag and stage backlogs."""
        passes: dict[str, float] = {}
        pending = 0.0
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "bizbus_poll_passes_total":
                    passes[sample.labels["feed"]] = sample.value
                elif sample.name in ("bizbus_consumer_lag", "bizbus_stage_backlog"):
                    pending += sample.value
        return cls(passes, pending)


async def read_counters(http: httpx.AsyncClient) -> WorkerCounters:
    """Scrape the worker's `/metrics` once."""
    response = await http.get("/metrics")
    response.raise_for_status()
    return WorkerCounters.parse(response.text)


def polled_since(
    start: WorkerCounters, now: WorkerCounters, feeds: Iterable[str], *, polls: int
) -> bool:
    """True once each of `feeds` finished `polls` more passes in `now` than in `start`."""
    return all(now.passes.get(f, 0) >= start.passes.get(f, 0) + polls for f in feeds)


async def wait_quiet(
    worker_url: str,
    *,
    system: str,
    polls: int = 2,
    timeout_s: float = 90,
    feeds: Iterable[str] | None = None,
    poke: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Return once `system`'s feeds were each polled `polls` more times and nothing is pending.

    `feeds`: only these (default: all of `system`'s); `poke`: run once the counters were read
    (e.g. a webhook hint that makes a pushing system's owner poll).

    Raises TimeoutError naming what did not happen.
    """
    async with httpx.AsyncClient(base_url=worker_url, timeout=10) as http:
        start = await read_counters(http)
        wanted = None if feeds is None else set(feeds)
        feeds = [
            feed
            for feed in start.passes
            if feed.startswith(f"{system}.") and (wanted is None or feed in wanted)
        ]
        if not feeds:
            raise TimeoutError(f"the worker polls no such {system} feed: nothing to wait for")
        if poke is not None:
            await poke()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            now = await read_counters(http)
            if polled_since(start, now, feeds, polls=polls) and now.pending == 0:
                return
            await asyncio.sleep(0.2)
    raise TimeoutError(
        f"the worker did not poll {system} {polls} more times and catch up in {timeout_s:.0f} s"
    )
