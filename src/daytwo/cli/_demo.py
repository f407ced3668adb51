"""``daytwo demo``: run the order-fulfilment demo with a live view and a summary."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

import daytwo
from daytwo.cli._apps import database_option
from daytwo.cli._errors import CliError, ExitCode
from daytwo.cli._options import DatabaseOption, JsonOption
from daytwo.cli._output import duration, new_table, print_json, status_text, stdout_console
from daytwo.cli._slo import print_statuses
from daytwo.demo import DemoPlan, Services, Summary, create_app, plan_orders, run_orders, summarize
from daytwo.demo import Progress as DemoProgress

__all__ = ["demo"]

STATUS_ORDER = ("RUNNABLE", "RUNNING", "WAITING", "SUCCEEDED", "COMPENSATED")


def demo(
    ctx: typer.Context,
    orders: Annotated[
        int, typer.Option("--orders", min=1, max=200, help="How many orders to run.")
    ] = 20,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the simulated failures.")] = 7,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, help="Instances the worker runs at once.")
    ] = 8,
    json_output: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Run an order-fulfilment process end to end, with retries, approvals and compensations.

    Each order: reserve inventory, get a manager's approval if it is over 1,000, charge
    the card at a payment API that fails about 30% of attempts (retried), wait for the
    carrier's pickup (a durable timer), ship. An order that fails after reserving is
    compensated: refunded and released.

    Uses a fresh SQLite file in a temporary directory unless --database is given
    ($DAYTWO_DATABASE is ignored, so the demo never writes into your database by
    accident); inspect it afterwards with `daytwo list --database URL`.
    """
    url = database_option(ctx, database, use_env=False) or _fresh_database()
    app = create_app(url, services=Services(seed=seed))
    try:
        _demo(app, url, plan_orders(orders, seed), concurrency, json_output)
    finally:
        app.close()


def _demo(app: daytwo.App, url: str, plan: DemoPlan, concurrency: int, json_output: bool) -> None:
    console = stdout_console()
    if not json_output:
        console.print(Text("daytwo demo", style="bold"), f": {len(plan.orders)} orders", sep="")
        console.print(f"database: {url}", soft_wrap=True)
    started = time.monotonic()
    try:
        if json_output:
            ids = run_orders(app, plan, concurrency=concurrency)
        else:
            ids = _run_with_live_view(console, app, plan, concurrency)
    except TimeoutError as exc:
        raise CliError(str(exc), ExitCode.FAILED) from None
    elapsed = time.monotonic() - started
    summary = summarize(app, ids)
    from daytwo import slo

    evaluator = slo.Evaluator.for_app(app)
    statuses = evaluator.evaluate()
    alerts = slo.list_alerts(app.store, status="firing")
    if json_output:
        print_json(
            {
                "database": url,
                **summary.to_dict(),
                "instance_ids": ids,
                "slos": [s.to_json() for s in statuses],
                "alerts": [a.to_json() for a in alerts],
            }
        )
        return
    _print_summary(console, summary, elapsed)
    compensated = [instance for instance in map(app.get, ids) if instance.status == "COMPENSATED"]
    if compensated:
        table = new_table("Compensated orders", "INSTANCE", "WHY", keep=("INSTANCE",))
        for instance in compensated:
            error = instance.error or {}
            table.add_row(instance.id, f"{error.get('type')}: {error.get('message')}")
        console.print(table)
    console.print(Text("\nService level objectives", style="bold"))
    print_statuses(statuses, evaluator.objectives)
    if alerts:
        table = new_table("Alerts raised", "SEVERITY", "KEY", "SUMMARY", keep=("SEVERITY", "KEY"))
        for alert in alerts:
            table.add_row(
                Text(alert.severity, style="bold red" if alert.severity == "page" else "yellow"),
                alert.dedup_key,
                alert.summary,
            )
        console.print(table)
    console.print("\nInspect what happened:")
    console.print(f"  daytwo list --database {url}", soft_wrap=True)
    if compensated:
        console.print(f"  daytwo history {compensated[0].id} --database {url}", soft_wrap=True)
    console.print(f"  daytwo slo status --app examples.orders:app --database {url}", soft_wrap=True)
    console.print(f"  daytwo slo alerts --database {url}", soft_wrap=True)


def _fresh_database() -> str:
    directory = Path(tempfile.mkdtemp(prefix="daytwo-demo-"))
    return f"sqlite:///{directory / 'demo.db'}"


def _run_with_live_view(
    console: Console, app: daytwo.App, plan: DemoPlan, concurrency: int
) -> list[str]:
    bar = Progress(
        TextColumn("orders"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )
    task = bar.add_task("orders", total=len(plan.orders))

    def view(progress: DemoProgress) -> Group:
        counts = Text("  ").join(
            Text.assemble(status_text(status), f" {progress.by_status[status]}")
            for status in (*STATUS_ORDER, *sorted(set(progress.by_status) - set(STATUS_ORDER)))
            if progress.by_status.get(status)
        )
        recent = [Text(f"  {event}", style="dim") for event in progress.events[-4:]]
        return Group(bar, counts, *recent)

    with Live(console=console, refresh_per_second=10, transient=False) as live:

        def update(progress: DemoProgress) -> None:
            bar.update(task, completed=progress.finished)
            live.update(view(progress))

        return run_orders(app, plan, concurrency=concurrency, on_progress=update)


def _print_summary(console: Console, summary: Summary, elapsed: float) -> None:
    console.print(
        "\n",
        Text("Summary", style="bold"),
        f" ({summary.instances} orders in {duration(elapsed)})",
        sep="",
    )
    statuses = new_table("Instances by status", "STATUS", "COUNT")
    for status, count in summary.by_status.items():
        statuses.add_row(status_text(status), str(count))
    console.print(statuses)

    console.print(
        f"Retries: {summary.retries} ({summary.failed_attempts} failed attempts"
        + _breakdown(summary.failed_attempts_by_step, ": ")
        + ")"
    )
    console.print(
        f"Compensations: {summary.compensations}"
        + _breakdown(summary.compensations_by_step, " (")
        + (")" if summary.compensations else "")
    )
    states = new_table("Time in state", "STATE", "VISITS", "TOTAL", "AVERAGE")
    for entry in summary.time_in_state:
        states.add_row(
            entry.state,
            str(entry.visits),
            duration(entry.total_seconds),
            duration(entry.average_seconds),
        )
    console.print(states)


def _breakdown(counts: dict[str, int], lead: str) -> str:
    """``lead`` then ``name count, ...`` ("" when there are none)."""
    return lead + ", ".join(f"{name} {count}" for name, count in counts.items()) if counts else ""
