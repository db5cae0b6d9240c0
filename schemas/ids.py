"""Event ids: random UUIDv4 strings drawn from the OS in blocks, not one syscall per event.

Every event a stage emits needs a fresh id; `uuid.uuid4()` reads 16 bytes from `os.urandom` and
builds a `UUID` object per call, a measurable share of a pure stage's time. Here one read serves
`BLOCK` ids, each formatted with the RFC 9562 version (4) and variant (10) bits, so the ids are
exactly as random and as valid as `uuid4`'s. A forked child drops the parent's unused ids (it
would otherwise hand out the same ones).
"""

import os

__all__ = ["BLOCK", "new_event_id"]

BLOCK = 256
"""Ids drawn per read of the OS's random source."""

_VARIANT = "89ab89ab89ab89ab"  # a hex digit's top two bits forced to 10: RFC 9562 variant
_ready: list[str] = []


def _block() -> list[str]:
    digits = os.urandom(16 * BLOCK).hex()
    ids = []
    for start in range(0, 32 * BLOCK, 32):
        hexes = digits[start : start + 32]
        variant = _VARIANT[int(hexes[16], 16)]
        ids.append(
            f"{hexes[:8]}-{hexes[8:12]}-4{hexes[13:16]}-{variant}{hexes[17:20]}-{hexes[20:]}"
        )
    return ids


def new_event_id() -> str:
    """Return a fresh random UUIDv4 as a string (`str(uuid.uuid4())`'s form)."""
    try:
        return _ready.pop()  # list.pop is atomic: threads never get the same id
    except IndexError:
        _ready.extend(_block())
        return _ready.pop()


def _forget_in_child() -> None:
    _ready.clear()


os.register_at_fork(after_in_child=_forget_in_child)
