"""`bizbus demo`: the main job, trade show to delivery against sandboxes, verified end to end."""

from typing import Annotated

import typer

from bizbus.deploy.sandbox.registry import SandboxExtraMissingError, require_server_extra


def demo(
    orders: Annotated[
        int, typer.Option(min=1, help="Orders placed at the show (a bigger floor).")
    ] = 1,
    keep_running: Annotated[
        bool,
        typer.Option("--keep-running", help="Leave the stack up afterwards (Ctrl-C stops it)."),
    ] = False,
    oa: Annotated[
        str,
        typer.Option(help="The OA product the sandbox plays: feishu or dingtalk."),
    ] = "feishu",
) -> None:
    """Start Kafka, the sandbox CRM/ERP/OA and a worker; play the story; verify every record."""
    try:
        require_server_extra()
    except SandboxExtraMissingError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    from bizbus.deploy.demo.oa_desks import OA_CHOICES
    from bizbus.deploy.demo.run import run_demo

    chosen = next((choice for choice in OA_CHOICES if choice == oa.lower()), None)
    if chosen is None:
        typer.echo(f"error: --oa {oa!r} is not one of {list(OA_CHOICES)}", err=True)
        raise typer.Exit(2)
    raise typer.Exit(run_demo(orders=orders, keep_running=keep_running, oa=chosen))
