"""``daytwo demo``: run the order-fulfilment demo with a live view and a summary."""

from __future__ import annotations

import shlex
import shutil
import sys
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
from daytwo import InstanceStatus
from daytwo.cli._apps import explicit_database
from daytwo.cli._errors import CliError, ExitCode
from daytwo.cli._options import DatabaseOption, JsonOption
from daytwo.cli._output import (
    Column,
    Row,
    duration,
    print_json,
    print_table,
    status_text,
    stdout_console,
)
from daytwo.demo import (
    DemoPlan,
    Services,
    Summary,
    create_app,
    demo_incidents,
    plan_orders,
    prepare_incidents,
    run_orders,
    summarize,
)
from daytwo.demo import Progress as DemoProgress
from daytwo.incidents import Incident, Severity
from daytwo.store import display_url

__all__ = ["DEMO_APP", "daytwo_command", "demo"]

#: The demo's app for ``--app``: a module of the installed package, so it imports from
#: any directory.
DEMO_APP = "daytwo.demo.example:app"

SEVERITY_STYLES = {
    Severity.SEV1: "bold red", Severity.SEV2: "red", Severity.SEV3: "yellow", Severity.SEV4: "",
}  # fmt: skip

STATUS_ORDER: tuple[InstanceStatus, ...] = (
    InstanceStatus.RUNNABLE,
    InstanceStatus.RUNNING,
    InstanceStatus.WAITING,
    InstanceStatus.SUCCEEDED,
    InstanceStatus.COMPENSATED,
)


def demo(
    ctx: typer.Context,
    orders: Annotated[
        int,
        typer.Option("--orders", min=1, max=200, metavar="N", help="How many orders to run."),
    ] = 20,
    seed: Annotated[
        int, typer.Option("--seed", metavar="N", help="Seed of the simulated failures.")
    ] = 7,
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency", min=1, metavar="N", help="Instances the worker runs at once."
        ),
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
    accident); inspect it afterwards with the commands it prints at the end.
    """
    services = Services(seed=seed)
    app = create_app(services=services)
    # Set, not passed to create_app: a URL given in code yields to $DAYTWO_DATABASE.
    app.database_url = explicit_database(ctx, database) or _fresh_database()
    try:
        _demo(app, plan_orders(orders, seed), concurrency, json_output, services)
    finally:
        app.close()


def _demo(
    app: daytwo.App, plan: DemoPlan, concurrency: int, json_output: bool, services: Services
) -> None:
    console = stdout_console()
    shown = display_url(app.database_url)
    if not json_output:
        console.print(Text("daytwo demo", style="bold"), f": {len(plan.orders)} orders", sep="")
        console.print(f"database: {shown}", soft_wrap=True)
    prepare_incidents(app)
    started = time.monotonic()
    try:
        if json_output:
            ids = run_orders(app, plan, concurrency=concurrency, services=services)
        else:
            ids = _run_with_live_view(console, app, plan, concurrency, services)
    except TimeoutError as exc:
        raise CliError(str(exc), ExitCode.FAILED) from None
    elapsed = time.monotonic() - started
    summary = summarize(app, ids)
    from daytwo import slo

    evaluator = slo.Evaluator.for_app(app)
    statuses = evaluator.evaluate()
    alerts = slo.list_alerts(app.store, status="firing")
    incidents = demo_incidents(app)
    if json_output:
        print_json(
            {
                "database": shown,
                **summary.to_dict(),
                "instance_ids": ids,
                "slos": [s.to_json() for s in statuses],
                "alerts": [a.to_json() for a in alerts],
                "incidents": [i.to_json() for i in incidents],
            }
        )
        return
    _print_summary(console, summary, elapsed)
    compensated = [
        instance for instance in map(app.get, ids) if instance.status is InstanceStatus.COMPENSATED
    ]
    if compensated:
        rows = [
            {
                "INSTANCE": instance.id,
                "WHY": f"{(instance.error or {}).get('type')}: "
                f"{(instance.error or {}).get('message')}",
            }
            for instance in compensated
        ]
        print_table(
            (Column("INSTANCE"), Column("WHY", wrap=True)),
            rows,
            title="Compensated orders",
            console=console,
        )
    console.print(Text("\nService level objectives", style="bold"))
    from daytwo.slo.cli import print_statuses

    print_statuses(statuses, evaluator.objectives)
    if alerts:
        alert_rows: list[Row] = [
            {
                "SEVERITY": Text(
                    alert.severity, style="bold red" if alert.severity == "page" else "yellow"
                ),
                "KEY": alert.dedup_key,
                "SUMMARY": alert.summary,
            }
            for alert in alerts
        ]
        columns = (Column("SEVERITY"), Column("KEY"), Column("SUMMARY", wrap=True, min_width=30))
        print_table(columns, alert_rows, title="Alerts raised", console=console)
    _print_incidents(console, incidents)
    _print_next_steps(console, app.database_url, compensated[0].id if compensated else None)


def _print_incidents(console: Console, incidents: list[Incident]) -> None:
    if not incidents:
        return
    rows: list[Row] = [
        {
            "#": str(incident.id),
            "SEVERITY": Text(str(incident.severity), style=SEVERITY_STYLES[incident.severity]),
            "STATUS": str(incident.status),
            "ASSIGNEE": incident.assignee or "-",
            "OPEN FOR": duration((incident.resolved_at or time.time()) - incident.opened_at),
            "TITLE": incident.title,
        }
        for incident in incidents
    ]
    columns = (
        Column("#"), Column("SEVERITY"), Column("STATUS"), Column("ASSIGNEE"),
        Column("OPEN FOR"), Column("TITLE", wrap=True, min_width=30),
    )  # fmt: skip
    print_table(columns, rows, title="Incidents opened", console=console)


def _print_next_steps(console: Console, url: str, compensated: str | None) -> None:
    """Commands to inspect the run that work as printed, from any directory: the daytwo
    executable by its path (unless it is the one on $PATH), the database's absolute URL
    and an app that imports from anywhere."""
    daytwo = daytwo_command()
    database = f"--database {shlex.quote(display_url(url))}"
    console.print("\nInspect what happened:")
    commands = [f"{daytwo} list {database}"]
    if compensated:
        commands.append(f"{daytwo} history {shlex.quote(compensated)} {database}")
    commands.append(f"{daytwo} slo status --app {DEMO_APP} {database}")
    commands.append(f"{daytwo} slo alerts {database}")
    commands.append(f"{daytwo} incidents list --all {database}")
    commands.append(f"{daytwo} incidents show 1 {database}")
    commands.append(f"{daytwo} owners show order {database}")
    commands.append(f"{daytwo} breaker list {database}")
    commands.append(f"{daytwo} audit list {database}")
    for command in commands:
        console.print(f"  {command}", soft_wrap=True)
    if display_url(url) != url:
        console.print("  (put the database password in place of ***)")


def daytwo_command() -> str:
    """How to run this daytwo from a shell: ``daytwo`` if that is the one on ``$PATH``,
    else the path of its script, else ``python -m daytwo`` with this interpreter."""
    script = Path(sys.executable).with_name("daytwo")
    if script.is_file():
        on_path = shutil.which("daytwo")
        if on_path is not None and Path(on_path).resolve() == script.resolve():
            return "daytwo"
        return shlex.quote(str(script))
    return f"{shlex.quote(sys.executable)} -m daytwo"


def _fresh_database() -> str:
    directory = Path(tempfile.mkdtemp(prefix="daytwo-demo-"))
    return f"sqlite:///{directory / 'demo.db'}"


def _run_with_live_view(
    console: Console, app: daytwo.App, plan: DemoPlan, concurrency: int, services: Services
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

        return run_orders(app, plan, concurrency=concurrency, on_progress=update, services=services)


def _print_summary(console: Console, summary: Summary, elapsed: float) -> None:
    console.print(
        "\n",
        Text("Summary", style="bold"),
        f" ({summary.instances} orders in {duration(elapsed)})",
        sep="",
    )
    print_table(
        (Column("STATUS"), Column("COUNT")),
        [
            {"STATUS": status_text(status), "COUNT": str(count)}
            for status, count in summary.by_status.items()
        ],
        title="Instances by status",
        console=console,
    )

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
    print_table(
        (Column("STATE"), Column("VISITS"), Column("TOTAL"), Column("AVERAGE")),
        [
            {
                "STATE": entry.state,
                "VISITS": str(entry.visits),
                "TOTAL": duration(entry.total_seconds),
                "AVERAGE": duration(entry.average_seconds),
            }
            for entry in summary.time_in_state
        ],
        title="Time in state",
        console=console,
    )
    if summary.circuit_changes:
        console.print("Circuit breaker: " + "; ".join(summary.circuit_changes))
    for action in summary.operator_actions:
        console.print(f"Operator: {action}")


def _breakdown(counts: dict[str, int], lead: str) -> str:
    """``lead`` then ``name count, ...`` ("" when there are none)."""
    return lead + ", ".join(f"{name} {count}" for name, count in counts.items()) if counts else ""
