"""Salesforce record ids for the sandbox CRM: 15-character case-sensitive ids + 3-char suffix.

The suffix makes the 18-character form case-insensitive: each 5-char chunk of the 15-char id
contributes one character encoding which of its letters are upper case.
"""

import re

__all__ = [
    "KEY_PREFIXES",
    "InvalidId",
    "checksum",
    "make_id",
    "normalize_id",
    "prefix_of",
]

KEY_PREFIXES: dict[str, str] = {
    "Lead": "00Q",
    "Account": "001",
    "Product2": "01t",
    "Pricebook2": "01s",
    "PricebookEntry": "01u",
    "Order": "801",
    "OrderItem": "802",
    "User": "005",
    "Organization": "00D",
}

_SUFFIX_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ID_RE = re.compile(r"[0-9A-Za-z]{15}|[0-9A-Za-z]{18}")
# Instance/pod characters as in ids minted on a real org ("5j" pod, reserved "0").
_POD = "5j0"


class InvalidId(ValueError):
    """A string that is not a well-formed 15- or 18-character Salesforce id."""


def checksum(id15: str) -> str:
    """Return the 3-character case-safe suffix for a 15-character id."""
    if len(id15) != 15:
        raise InvalidId(f"expected 15 characters, got {len(id15)}")
    suffix = []
    for start in (0, 5, 10):
        bits = 0
        for position, char in enumerate(id15[start : start + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << position
        suffix.append(_SUFFIX_CHARS[bits])
    return "".join(suffix)


def make_id(prefix: str, number: int) -> str:
    """Return the 18-character id numbered `number` under a 3-character key prefix."""
    if len(prefix) != 3:
        raise ValueError(f"key prefix must have 3 characters: {prefix!r}")
    digits = []
    for _ in range(9):
        number, rest = divmod(number, 62)
        digits.append(_BASE62[rest])
    if number:
        raise ValueError("id counter overflow")
    id15 = prefix + _POD + "".join(reversed(digits))
    return id15 + checksum(id15)


def normalize_id(value: str) -> str:
    """Return the 18-character form of a 15- or 18-character id (case-repaired when 18).

    Raises:
        InvalidId: the value is not a well-formed id, or its suffix does not match.
    """
    if not _ID_RE.fullmatch(value):
        raise InvalidId(f"invalid id: {value}")
    if len(value) == 15:
        return value + checksum(value)
    # An 18-char id may have been lower- or upper-cased: the suffix restores each letter's case.
    body, suffix = value[:15], value[15:].upper()
    chars = list(body)
    for chunk, code in enumerate(suffix):
        if code not in _SUFFIX_CHARS:
            raise InvalidId(f"invalid id: {value}")
        bits = _SUFFIX_CHARS.index(code)
        for position in range(5):
            index = chunk * 5 + position
            upper = bool(bits >> position & 1)
            if chars[index].isalpha():
                chars[index] = chars[index].upper() if upper else chars[index].lower()
            elif upper:
                raise InvalidId(f"invalid id: {value}")
    id15 = "".join(chars)
    return id15 + checksum(id15)


def prefix_of(value: str) -> str:
    """Return the 3-character key prefix of an id."""
    return value[:3]
