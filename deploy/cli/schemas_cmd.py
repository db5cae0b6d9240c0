"""`bizbus schemas export DIR`: write the event contracts (JSON Schema + AsyncAPI 3.0)."""

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from bizbus.schemas import SchemaError
from bizbus.schemas.export import export_contracts

app = typer.Typer(help="Event contracts: JSON Schema per event type and one AsyncAPI document.")
console = Console(stderr=True)


@app.command()
def export(
    directory: Annotated[Path, typer.Argument(help="Folder to write the contracts into.")],
    allow_breaking: Annotated[
        bool,
        typer.Option(help="Overwrite published schemas even when the change is breaking."),
    ] = False,
) -> None:
    """Write jsonschema/<type>.json and asyncapi.json; refuse breaking changes to published ones."""
    try:
        written = export_contracts(directory, allow_breaking=allow_breaking)
    except SchemaError as error:
        console.print(f"[red]error:[/red] {escape(str(error))}")
        raise typer.Exit(1) from None
    console.print(f"Wrote {len(written)} contract files under {directory}.")
