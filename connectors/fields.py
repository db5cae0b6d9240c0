"""Reading fields of records that systems return, the same way everywhere.

Systems mark an empty field differently (JSON null, a blank string, Odoo's ``False``); every
mapping reads text through `text` so that all of them mean "no value".
"""

from typing import Any

__all__ = ["text"]


def text(value: Any) -> str | None:
    """Return a field as stripped text, or None when it is missing, blank or Odoo's ``False``."""
    if value is None or value is False:
        return None
    stripped = str(value).strip()
    return stripped or None
