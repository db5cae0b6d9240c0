"""Event ids drawn in blocks: valid UUIDv4 strings, unique, fresh after a fork."""

import os
import uuid

from bizbus.schemas import ids
from bizbus.schemas.ids import BLOCK, new_event_id


def test_ids_are_version_4_rfc_variant_uuids_in_canonical_form() -> None:
    for _ in range(3 * BLOCK):  # over several blocks
        text = new_event_id()
        parsed = uuid.UUID(text)
        assert str(parsed) == text  # lower-case, hyphenated, 36 characters
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


def test_ids_are_unique_across_blocks() -> None:
    drawn = [new_event_id() for _ in range(20 * BLOCK)]
    assert len(set(drawn)) == len(drawn)


def test_random_bits_vary_in_every_free_position() -> None:
    drawn = [uuid.UUID(new_event_id()).int for _ in range(4 * BLOCK)]
    fixed = (0xF << 76) | (0x3 << 62)  # version nibble and variant bits
    varying = 0
    for value in drawn:
        varying |= value ^ drawn[0]
    assert varying == ((1 << 128) - 1) & ~fixed


def test_a_forked_child_does_not_reuse_the_parents_block() -> None:
    new_event_id()  # the parent holds unused ids of a block
    pending = set(ids._ready)
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        os.write(write, new_event_id().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    drawn = os.read(read, 64).decode()
    os.close(read)
    assert uuid.UUID(drawn).version == 4
    assert drawn not in pending
