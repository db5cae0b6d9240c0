import pytest

from bizbus.deploy.sandbox.crm import ids
from bizbus.deploy.sandbox.crm.ids import InvalidId, checksum, make_id, normalize_id


def test_checksum_matches_the_documented_example() -> None:
    assert checksum("001D000000IqhSL") == "IAZ"


def test_made_ids_have_18_characters_the_prefix_and_a_valid_suffix() -> None:
    record_id = make_id("801", 3_000_123)
    assert len(record_id) == 18
    assert record_id.startswith("801")
    assert record_id[15:] == checksum(record_id[:15])


def test_consecutive_numbers_give_distinct_ids() -> None:
    assert len({make_id("001", n) for n in range(1000)}) == 1000


def test_15_character_ids_are_extended() -> None:
    assert normalize_id("001D000000IqhSL") == "001D000000IqhSLIAZ"


def test_lower_cased_18_character_ids_are_repaired_by_their_suffix() -> None:
    assert normalize_id("001d000000iqhsliaz") == "001D000000IqhSLIAZ"


@pytest.mark.parametrize("value", ["", "abc", "001D000000IqhSL!AZ", "王" * 15, "001D000000IqhSLIA"])
def test_malformed_ids_are_rejected(value: str) -> None:
    with pytest.raises(InvalidId):
        normalize_id(value)


def test_all_is_exported() -> None:
    assert sorted(ids.__all__) == sorted(name for name in ids.__all__ if hasattr(ids, name))
