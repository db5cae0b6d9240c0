"""Cross-references: which CRM, ERP and OA records are the same business thing.

A global table (compacted changelog) maps a canonical key such as `order:<crm id>` to the ids
each system gave it. Stages record ids as they learn them; `bizbus xref ID` reads the
changelog directly, so it needs no running worker.
"""

from collections.abc import MutableMapping
from typing import Any

from bizbus.flows.runtime.spec import TableSpec

# faust writes a table from an agent only when the table has as many partitions as the
# agent's topic: the xref is written only by agents on 6-partition `cmd.*`/`biz.*` topics.
XREF_TABLE = TableSpec("xref", partitions=6, global_=True)


class Xref:
    """The cross-reference table of one worker (a faust table, or a dict in tests)."""

    def __init__(self, table: MutableMapping[str, Any]) -> None:
        self.table = table

    def record(self, key: str, **ids: str | None) -> dict[str, str]:
        """Merge `ids` (system → id) into the entry of `key`; call inside a stage."""
        current: dict[str, str] = dict(self.table.get(key) or {})
        merged = {**current, **{system: value for system, value in ids.items() if value}}
        if merged != current:
            self.table[key] = merged
        return merged

    def get(self, key: str) -> dict[str, str]:
        """Return the ids known for `key` (empty when none)."""
        return dict(self.table.get(key) or {})


def changelog_topic(app_id: str) -> str:
    """Return the changelog topic faust keeps the xref table in."""
    return f"{app_id}-{XREF_TABLE.name}-changelog"
