"""`bizbus sandbox up [crm|erp|oa]... | down | status`: the reference systems on loopback."""

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from bizbus.deploy.kafka import KafkaRuntimeSettings
from bizbus.deploy.sandbox.registry import SYSTEMS
from bizbus.deploy.sandbox.runner import SandboxError, SandboxStack, start_sandbox, stop_sandbox

app = typer.Typer(help="Reference CRM (Salesforce), ERP (Odoo) and OA (Feishu) servers.")
console = Console()

RunDir = Annotated[Path | None, typer.Option(help="Folder for databases, logs and state.")]


def _run_dir(run_dir: Path | None) -> Path:
    return run_dir or KafkaRuntimeSettings().cache_dir / "sandbox"


def _print_stack(stack: SandboxStack) -> None:
    for server in stack.servers:
        spec = SYSTEMS[server.name]
        state = "up" if server.alive() else "DOWN"
        console.print(f"[bold]{server.name}[/bold] ({spec.dialect}) {state}: {server.url}")
        if server.grpc_address is not None:
            console.print(f"    pubsub (gRPC, Salesforce Pub/Sub API) = {server.grpc_address}")
        for key, value in spec.credentials.items():
            console.print(f"    {key} = {value}")


@app.command()
def up(
    systems: Annotated[
        list[str] | None, typer.Argument(help="crm, erp, oa (default: all).")
    ] = None,
    crm_port: Annotated[int, typer.Option(help="CRM port.")] = SYSTEMS["crm"].default_port,
    erp_port: Annotated[int, typer.Option(help="ERP port.")] = SYSTEMS["erp"].default_port,
    oa_port: Annotated[int, typer.Option(help="OA port.")] = SYSTEMS["oa"].default_port,
    dingtalk_port: Annotated[int, typer.Option(help="DingTalk OA port.")] = SYSTEMS[
        "dingtalk"
    ].default_port,
    crm_grpc_port: Annotated[int, typer.Option(help="CRM Pub/Sub API (gRPC) port.")] = SYSTEMS[
        "crm"
    ].grpc_default_port
    or 0,
    manual_clock: Annotated[bool, typer.Option(help="ERP work waits for clock steps.")] = False,
    run_dir: RunDir = None,
) -> None:
    """Start sandbox servers with fresh seeded databases and print how to reach them."""
    folder = _run_dir(run_dir)
    existing = SandboxStack.load(folder)
    if existing is not None and any(server.alive() for server in existing.servers):
        console.print("[red]error:[/red] sandboxes already run; `bizbus sandbox down` first.")
        raise typer.Exit(1)
    names = systems or list(SYSTEMS)
    ports = {"crm": crm_port, "erp": erp_port, "oa": oa_port, "dingtalk": dingtalk_port,
             "crm-grpc": crm_grpc_port}  # fmt: skip
    try:
        with console.status(f"starting sandbox {', '.join(names)}"):
            stack = start_sandbox(names, run_dir=folder, ports=ports, manual_clock=manual_clock)
    except SandboxError as error:
        console.print(f"[red]error:[/red] {escape(str(error))}")
        raise typer.Exit(1) from None
    _print_stack(stack)
    console.print(f"Request logs in {folder}/<system>.log. Stop with `bizbus sandbox down`.")


@app.command()
def down(run_dir: RunDir = None) -> None:
    """Stop the sandbox servers started by `bizbus sandbox up`."""
    stack = SandboxStack.load(_run_dir(run_dir))
    if stack is None:
        console.print("No sandbox is recorded as running; nothing to stop.")
        return
    stop_sandbox(stack)
    console.print(f"Stopped {', '.join(server.name for server in stack.servers)}.")


@app.command()
def status(run_dir: RunDir = None) -> None:
    """Show which sandbox servers run; exit 1 when none does."""
    stack = SandboxStack.load(_run_dir(run_dir))
    if stack is None or not any(server.alive() for server in stack.servers):
        console.print("No sandbox is running.")
        raise typer.Exit(1)
    _print_stack(stack)
