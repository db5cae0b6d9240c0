"""Cross-references: which CRM, ERP and OA records are the same business thing.

A global table (compacted changelog) maps a canonical key such as `order:<crm id>` to the ids
each system gave it. Sink agents record ids as they learn them; `bizbus xref ID` reads the
changelog directly, so it needs no running worker.
"""

from typing import Any

from bizbus.flows.context import FlowContext

XREF_TABLE = "xref"
# faust writes a table from an agent only when the table has as many partitions as the
# agent's topic: the xref is written only by agents on 6-partition `cmd.*`/`biz.*` topics.
XREF_PARTITIONS = 6


class Xref:
    """The cross-reference table of one worker."""

    def __init__(self, ctx: FlowContext) -> None:
        self.table: Any = ctx.app.GlobalTable(
            XREF_TABLE,
            default=None,
            partitions=XREF_PARTITIONS,
        )  # faust tables serialize keys and values as JSON unless their types say otherwise

    def record(self, key: str, **ids: str | None) -> dict[str, str]:
        """Merge `ids` (system → id) into the entry of `key`; call inside an agent."""
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
    return f"{app_id}-{XREF_TABLE}-changelog"
