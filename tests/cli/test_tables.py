"""Tables at 80 columns and times shown one way (issue 9 item 23).

Every table is rendered on an 80-column console (CliRunner's output is not a terminal, so
Rich uses ``$COLUMNS``): no line is wider, nothing is cut with an ellipsis, and the main
columns show their whole values. Times are UTC, marked ``Z``.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from _cli import (
    Invoke,
    clean_cli_environment,  # noqa: F401 -- an autouse fixture, active once imported
    cli_invoker,
)
from rich.cells import cell_len
from rich.console import Console
from typer.testing import Result

import daytwo
from daytwo.cli._instances import LIST_COLUMNS
from daytwo.cli._output import fit_table, short_time, timestamp

OBJECTIVES = """\
objectives:
  - name: doomed-success
    workflow: doomed
    objective: 0.99
    sli: {kind: success}
    alerting: {min_events: 1, runbook: "https://runbooks.example/doomed-success"}
  - name: greet-cycle-time
    workflow: greet
    objective: 0.95
    sli: {kind: cycle_time, within: 1m}
  - name: waits-stuck
    workflow: wait-signal
    objective: 0.9
    sli: {kind: stuck_ratio, thresholds: {go: 0s}}
"""
#: A UTC time as the CLI shows it: ``14:03:07Z`` (today) or ``2026-05-01 14:03Z``.
UTC_TIME = re.compile(r"(\d{4}-\d\d-\d\d )?\d\d:\d\d(:\d\d)?Z")


@pytest.fixture
def invoke(db_url: str) -> Invoke:
    return cli_invoker(db_url, COLUMNS="80")


@pytest.fixture
def seeded(db_url: str, tmp_path: Path) -> dict[str, Any]:
    """Instances in several states (generated, full-length ids), a human task, an alert."""
    import cli_app

    app: daytwo.App = cli_app.app
    app.database_url = db_url
    app.run("greet", {"name": "Ada"})
    failed = app.start("doomed", None).id
    waiting = app.start("wait-signal", None).id
    approval = app.start("approval", 1500).id
    with app.worker(concurrency=2, poll_interval=0.05) as worker:
        worker.drain()
    objectives = tmp_path / "slos.yaml"
    objectives.write_text(OBJECTIVES)
    return {"failed": failed, "waiting": waiting, "approval": approval, "slos": str(objectives)}


def fits(result: Result, *whole: str) -> str:
    """The output, after checking it fits 80 columns, cuts nothing and shows each of
    ``whole`` on one line."""
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    lines = result.stdout.splitlines()
    assert all(cell_len(line) <= 80 for line in lines), result.stdout
    assert "…" not in result.stdout, result.stdout
    for value in whole:
        assert any(value in line for line in lines), (value, result.stdout)
    return result.stdout


def test_list_shows_id_workflow_status_and_state_whole(
    invoke: Invoke, seeded: dict[str, Any]
) -> None:
    out = fits(
        invoke("list"),
        *("ID", "WORKFLOW", "STATUS", "STATE"),
        seeded["failed"],
        seeded["waiting"],
        "wait-signal 1",
        "SUCCEEDED",
        "FAILED",
        "WAITING",
    )
    assert "4 instance(s)" in out


@pytest.mark.parametrize(
    ("workflow", "status"),
    [("order 1.4.0", "COMPENSATION_FAILED"), ("loan-application 12.4.1", "SUCCEEDED")],
)
def test_the_list_keeps_its_main_columns_whole_in_the_worst_case(
    workflow: str, status: str
) -> None:
    """A generated id (25 characters), the longest status or a long workflow name, a long
    state: the main columns stay whole at 80 columns (a long workflow name puts its version
    on the next line); optional columns make room."""
    row = {
        "ID": "0194c4d2e3f4a5b6c7d8e9f0a",
        "WORKFLOW": workflow,
        "STATUS": status,
        "STATE": "manager-approval",
        "IN STATE": "3d 4h",
        "WAITING FOR": "human task 'manager-approval'",
        "CREATED": "2026-05-01 14:03Z",
    }
    console = Console(width=80, record=True, file=io.StringIO())
    console.print(fit_table(LIST_COLUMNS, [row], width=80))
    text = console.export_text()
    assert all(cell_len(line) <= 80 for line in text.splitlines())
    assert "…" not in text
    header, _rule, *body = text.splitlines()
    for column in ("ID", "WORKFLOW", "STATUS", "STATE"):
        assert column in header
    for value in (row["ID"], *workflow.split(), status, row["STATE"]):
        assert any(value in line for line in body), (value, text)


def test_history_status_and_tasks_fit_and_show_utc_times(
    invoke: Invoke, seeded: dict[str, Any]
) -> None:
    history = fits(
        invoke("history", seeded["failed"]),
        *("NAME", "OUTCOME", "AT", "always_fails", "failed", "ConnectionError"),
        *("STEP", "ATTEMPT", "FAILED AT", "RETRY AT", "STATE", "STATUS", "TIME IN STATE"),
    )
    assert UTC_TIME.search(history), history
    status = fits(invoke("status", seeded["waiting"]), seeded["waiting"], "WAITING")
    assert re.search(r"created\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ", status), status
    tasks = fits(invoke("tasks", "list"), *("TASK ID", "NAME", "STATUS", "approve", "open"))
    [task] = json.loads(invoke("tasks", "list", "--json").stdout)
    assert task["id"] in tasks


def test_slo_tables_fit_with_labelled_burn_rates_and_readable_alerts(
    invoke: Invoke, seeded: dict[str, Any]
) -> None:
    slos = seeded["slos"]
    assert invoke("slo", "evaluate", "--objectives", slos, "--app", "cli_app:app").exit_code == 0
    status = fits(
        invoke("slo", "status", "--objectives", slos, "--app", "cli_app:app"),
        *("SLO", "SLI", "BUDGET LEFT", "BURN 1h", "ALERT"),
        *("doomed-success", "greet-cycle-time", "waits-stuck"),
    )
    assert "3 objective(s)" in status
    alerts_out = fits(invoke("slo", "alerts"), "SEVERITY", "FIRED", "SUMMARY", "page", "ticket")
    [alert, *_] = json.loads(invoke("slo", "alerts", "--json").stdout)
    first_words = " ".join(alert["summary"].split()[:3])
    assert first_words in alerts_out, (first_words, alerts_out)  # words, not one per line
    assert UTC_TIME.search(alerts_out), alerts_out
    stuck = fits(
        invoke("slo", "stuck", "--objectives", slos, "--app", "cli_app:app"),
        *("INSTANCE", "STATE", "IN STATE", "REASON"),
        seeded["waiting"],
    )
    assert "1 stuck instance(s)" in stuck


def test_flow_tables_fit(invoke: Invoke, seeded: dict[str, Any]) -> None:
    queue = invoke("queues", "set", "default", "--concurrency", "4", "--rate", "100", "--per", "60")
    assert queue.exit_code == 0, queue.stderr
    fits(invoke("queues", "list"), *("QUEUE", "RUNNABLE", "RUNNING", "default"))
    paused = invoke(
        "pause", "wait-signal", "--step", "slow-step", "--reason", "a long reason why", "--force"
    )
    assert paused.exit_code == 0, paused.stderr
    fits(invoke("pauses"), *("WORKFLOW", "STEP", "HELD", "wait-signal", "slow-step"))
    limited = invoke("dependencies", "set", "payments-api", "--concurrency", "5", "--force")
    assert limited.exit_code == 0, limited.stderr
    fits(invoke("dependencies", "list"), *("DEPENDENCY", "CONCURRENCY", "payments-api"))


def test_times_are_utc_everywhere() -> None:
    from datetime import UTC, datetime, timedelta, timezone

    moment = datetime(2026, 5, 1, 16, 3, 7, tzinfo=timezone(timedelta(hours=2)))
    assert timestamp(moment) == "2026-05-01 14:03:07Z"
    assert short_time(moment) == "2026-05-01 14:03Z"
    now = datetime.now(UTC).replace(microsecond=0)
    assert short_time(now) == now.strftime("%H:%M:%SZ")


def test_wrapping_columns_break_between_words_not_inside_them() -> None:
    from daytwo.slo._cli import STATUS_COLUMNS

    row = {"SLO": "payments-retries", "WORKFLOW": "order", "SLI": "0.250/instance",
           "OBJECTIVE": "<= 1/instance (dependency payments-api)", "WINDOW": "rolling 28d",
           "BUDGET LEFT": "75.0%", "BURN 1h": "0.2x", "BURN 6h": "0.2x", "BURN 3d": "0.2x",
           "ALERT": "firing (page, ticket)"}  # fmt: skip
    out = io.StringIO()
    Console(file=out, width=80).print(fit_table(STATUS_COLUMNS, [row], width=80))
    text = out.getvalue()
    assert all(cell_len(line) <= 80 for line in text.splitlines())
    for word in ("1/instance", "(dependency", "payments-api)", "firing", "ticket)"):
        assert word in text, text
