"""`bizbus budget`: API calls each system got from bizbus over the last 24 h, against its budget.

Read from the poller's ledgers (the cursor table's changelog on Kafka), so it shows what the
worker group counted: polls and writes of every worker, as the poller throttles on them.
"""

import asyncio
import time
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.table import Table

from bizbus.deploy.cli.kafka_login import connect
from bizbus.flows.runtime.budget import cursor_changelog, read_budgets
from bizbus.flows.settings import RuntimeSettings

console = Console()
SYSTEMS = ("crm", "erp", "oa")


def budget(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Print the API calls spent per system in the last 24 h and each system's daily budget."""
    settings = RuntimeSettings()
    ledgers = asyncio.run(read_budgets(connect(), changelog=cursor_changelog(settings.app_id)))
    now = time.time()
    rows = {
        system: {
            "spent_24h": ledgers[system].spent(now) if system in ledgers else 0,
            "daily_budget": settings.daily_api_budget(system),
        }
        for system in SYSTEMS
    }
    if as_json:
        typer.echo(orjson.dumps(rows).decode())
        return
    table = Table("system", "calls in the last 24 h", "daily budget", "spent")
    for system, row in rows.items():
        limit, spent = row["daily_budget"], row["spent_24h"] or 0
        share = f"{100 * spent / limit:.1f} %" if limit else "-"
        table.add_row(system, str(spent), str(limit) if limit else "no limit", share)
    console.print(table)
    console.print("Counted by the poller in 5-minute slots (a slot counts until it is 24 h old).")
