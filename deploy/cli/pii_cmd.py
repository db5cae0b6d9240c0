"""`bizbus pii keygen`: a fresh key for sealing personal data on Kafka (`BIZBUS_PII_*`)."""

from datetime import UTC, datetime
from typing import Annotated

import orjson
import typer

from bizbus.flows.personal import new_key

app = typer.Typer(help="Personal data on Kafka: the keys that seal it.")


@app.command()
def keygen(
    key_id: Annotated[
        str, typer.Option("--id", help="Key id (default: this month, e.g. 2025-07).")
    ] = "",
) -> None:
    """Print BIZBUS_PII_KEYS and BIZBUS_PII_ACTIVE_KEY lines for a fresh random key.

    To rotate, add the new key beside the old ones in BIZBUS_PII_KEYS and make it active;
    keep an old key while any topic still holds records it sealed.
    """
    key_id = key_id or datetime.now(UTC).strftime("%Y-%m")
    keys = orjson.dumps({key_id: new_key()}).decode()
    typer.echo(f"BIZBUS_PII_KEYS='{keys}'")
    typer.echo(f"BIZBUS_PII_ACTIVE_KEY={key_id}")
