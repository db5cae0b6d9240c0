"""Which handler reads an approval definition's instances: the claim decision, pure.

Each followed definition is claimed by one handler (a form kind a flow reads: ``travel``).
Records carry their handler's name under ``HANDLER_KEY``, so each flow takes its own and a
new form is one line in ``HANDLERS`` plus the flow that reads it. An instance of a definition
no handler claims is ignored with a log line by whoever meets it, never dead-lettered.
"""

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "CONFLICT",
    "DEFAULT_HANDLER",
    "DISCOUNT",
    "HANDLERS",
    "HANDLER_KEY",
    "TRAVEL",
    "claims_of",
    "code_of",
    "handler_of",
]

TRAVEL = "travel"
DISCOUNT = "discount"  # a CRM order priced beyond its salesperson's limit (orders flow)
CONFLICT = "conflict"  # a catalog field both systems edited, for people to settle
# The handlers a flow implements; BIZBUS_OA_HANDLERS may name only these.
HANDLERS = frozenset({TRAVEL, DISCOUNT, CONFLICT})
# What the codes of BIZBUS_OA_APPROVAL_CODES are read as (every OA form was a trip before).
DEFAULT_HANDLER = TRAVEL
HANDLER_KEY = "handler"


def claims_of(approval_codes: Iterable[str], handlers: Mapping[str, str]) -> dict[str, str]:
    """Code → handler: ``approval_codes`` go to the default handler unless ``handlers`` says."""
    return {**dict.fromkeys(approval_codes, DEFAULT_HANDLER), **handlers}


def handler_of(payload: Mapping[str, Any], claims: Mapping[str, str]) -> str | None:
    """The handler of an instance record: the one it carries, else its definition's; None: none.

    Records published before handlers existed carry none: their approval code decides.
    """
    carried = payload.get(HANDLER_KEY)
    if isinstance(carried, str) and carried:
        return carried
    code = payload.get("approval_code")
    return claims.get(code) if isinstance(code, str) else None


def code_of(handler: str, claims: Mapping[str, str]) -> str | None:
    """The approval definition a handler's instances are filed under (the first it claims)."""
    return next((code for code, name in claims.items() if name == handler), None)
