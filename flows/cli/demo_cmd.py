"""`bizbus demo`: the main job, trade show to delivery against sandboxes, verified end to end."""

from typing import Annotated

import typer


def demo(
    orders: Annotated[
        int, typer.Option(min=1, help="Orders placed at the show (a bigger floor).")
    ] = 1,
    keep_running: Annotated[
        bool,
        typer.Option("--keep-running", help="Leave the stack up afterwards (Ctrl-C stops it)."),
    ] = False,
) -> None:
    """Start Kafka, the sandbox CRM/ERP/OA and a worker; play the story; verify every record."""
    from deploy.demo.run import run_demo

    raise typer.Exit(run_demo(orders=orders, keep_running=keep_running))
