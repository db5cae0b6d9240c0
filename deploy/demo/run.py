"""`bizbus demo`: start the stack, play the story step by step, verify, summarise, clean up.

Prints a timeline (a spinner while it waits), then a summary table; exits non-zero naming the
step that did not land. Everything it started is stopped on success, failure and Ctrl-C.
"""

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.status import Status
from rich.table import Table

from bizbus.deploy.demo.oa_desks import DESKS, OaChoice
from bizbus.deploy.demo.stack import DemoStack
from bizbus.deploy.demo.story import StepFailedError, StepResult, Story
from bizbus.deploy.kafka import KafkaRuntimeError, KafkaRuntimeSettings
from bizbus.deploy.sandbox.registry import SYSTEMS
from bizbus.deploy.sandbox.runner import SandboxError


def _run_dir() -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return KafkaRuntimeSettings().cache_dir / "demo" / stamp


async def _play(story: Story, console: Console) -> list[StepResult]:
    try:
        return await _steps(story, console)
    finally:
        await story.close()  # its HTTP clients belong to this event loop


async def _steps(story: Story, console: Console) -> list[StepResult]:
    results = []
    for number, (title, step) in enumerate(story.steps(), start=1):
        with console.status(f"{number}. {title}") as status:

            def show(message: str, status: Status = status, number: int = number) -> None:
                status.update(f"{number}. {message}")

            story.status = show
            result = await step()
        ids = ", ".join(f"{name} {value}" for name, value in result.records.items())
        console.print(f"[green]✓[/green] {number}. {title}  [dim]({result.latency_s:.1f} s)[/dim]")
        console.print(f"     {ids}")
        for note in result.notes:
            console.print(f"     {note}")
        results.append(result)
    return results


def _summary(results: list[StepResult], console: Console, started: float) -> None:
    table = Table("step", "records produced", "latency", title="Verified in every system")
    for result in results:
        table.add_row(
            result.title,
            "\n".join(f"{name}: {value}" for name, value in result.records.items()),
            f"{result.latency_s:.1f} s",
        )
    console.print(table)
    console.print(f"All {len(results)} steps verified in {time.monotonic() - started:.0f} s.")


def run_demo(
    *,
    orders: int = 1,
    keep_running: bool = False,
    oa: OaChoice = "feishu",
    console: Console | None = None,
) -> int:
    """Run the whole demo (the OA played by Feishu or DingTalk); return the exit code."""
    console = console or Console()
    started = time.monotonic()
    stack = DemoStack(_run_dir(), oa=oa)
    try:
        with console.status("setting up") as status:
            stack.start(lambda message: status.update(message))
        bootstrap = stack.cluster.bootstrap if stack.cluster else "?"
        console.print(
            f"Stack up in {time.monotonic() - started:.0f} s: Kafka {bootstrap}, "
            f"CRM {stack.urls['crm']}, ERP {stack.urls['erp']}, "
            f"OA ({oa}) {stack.urls[DESKS[oa].system]}"
        )
        story = Story(
            stack.urls, stack.worker_url, orders=orders, status=lambda _: None,
            erp_hook=stack.erp_hook, oa=oa,
        )  # fmt: skip
        results = asyncio.run(_play(story, console))
        _summary(results, console, started)
        if keep_running:
            _hold(stack, console)
        return 0
    except StepFailedError as error:
        console.print(f"[red]✗ step failed:[/red] {error}")
        if stack.worker is not None:
            console.print(f"[dim]last lines of the worker log ({stack.worker.log_path}):[/dim]")
            console.print(stack.worker.log_tail(25), markup=False, highlight=False)
        return 1
    except (KafkaRuntimeError, SandboxError, RuntimeError) as error:
        console.print(f"[red]✗ set-up failed:[/red] {error}", markup=True, highlight=False)
        return 2
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/yellow]; stopping everything")
        return 130
    finally:
        with console.status("stopping the worker, sandboxes and Kafka"):
            stack.stop()


def _hold(stack: DemoStack, console: Console) -> None:
    console.print("\nThe stack keeps running (Ctrl-C stops it). Reach it with:")
    for name, url in stack.urls.items():
        credentials = " ".join(f"{k}={v}" for k, v in SYSTEMS[name].credentials.items())
        console.print(f"  {name}: {url}   {credentials}")
    bootstrap = stack.cluster.bootstrap if stack.cluster else "?"
    console.print(f"  Kafka: {bootstrap}   worker: {stack.worker_url}")
    console.print(
        f"  trace a deal:  BIZBUS_KAFKA_BOOTSTRAP={bootstrap} BIZBUS_APP_ID=bizbus-demo "
        "bizbus trace <CRM order id | ERP order name | OA instance code>"
    )
    while stack.worker is not None and stack.worker.alive():
        time.sleep(1)
