"""``daytwo slo ...``: status, evaluate, alerts and stuck, as tables and JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _cli import (
    Invoke,
    clean_cli_environment,  # noqa: F401 -- an autouse fixture, active once imported
    cli_invoker,
)
from typer.testing import Result

import daytwo

OBJECTIVES = """\
objectives:
  - name: doomed-ok
    workflow: doomed
    objective: 0.99
    sli: {kind: success}
    alerting: {min_events: 1, runbook: "https://runbooks.example/doomed"}
  - name: greet-fast
    workflow: greet
    objective: 0.95
    sli: {kind: cycle_time, within: 1m}
"""


@pytest.fixture
def invoke(db_url: str) -> Invoke:
    return cli_invoker(db_url, COLUMNS="200")


@pytest.fixture
def objectives(tmp_path: Path, db_url: str) -> str:
    import cli_app

    app: daytwo.App = cli_app.app
    app.database_url = db_url
    app.run("greet", {"name": "Ada"})
    with pytest.raises(daytwo.WorkflowFailed):
        app.run("doomed", None)
    with pytest.raises(TimeoutError):
        app.run("wait-signal", None, id="w1", timeout=0)  # left waiting for "go"
    path = tmp_path / "slos.yaml"
    path.write_text(OBJECTIVES)
    return str(path)


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result


def test_status_and_evaluate_show_slis_and_alerts(invoke: Invoke, objectives: str) -> None:
    table = ok(invoke("slo", "status", "--objectives", objectives)).stdout
    assert "doomed-ok" in table and "greet-fast" in table and "BURN 1h" in table
    statuses = json.loads(ok(invoke("slo", "status", "--objectives", objectives, "--json")).stdout)
    doomed = next(s for s in statuses if s["name"] == "doomed-ok")
    assert doomed["sli"] == 0.0 and doomed["alert_state"] == "ok"  # nothing evaluated yet
    evaluated = json.loads(
        ok(invoke("slo", "evaluate", "--objectives", objectives, "--json")).stdout
    )
    assert next(s for s in evaluated if s["name"] == "doomed-ok")["alert_state"] == (
        "firing (page, ticket)"
    )
    greet = next(s for s in evaluated if s["name"] == "greet-fast")
    assert greet["sli"] == 1.0 and greet["budget_remaining"] == 1.0
    alerts = json.loads(ok(invoke("slo", "alerts", "--json")).stdout)
    assert {a["dedup_key"] for a in alerts} == {"slo/doomed-ok/page", "slo/doomed-ok/ticket"}
    assert alerts[0]["runbook"] == "https://runbooks.example/doomed"
    assert "slo/doomed-ok/page" in ok(invoke("slo", "alerts")).stdout


def test_stuck_lists_reasons(invoke: Invoke, objectives: str) -> None:
    listed = json.loads(ok(invoke("slo", "stuck", "--app", "cli_app:app", "--json")).stdout)
    assert listed == []  # the waiting instance has no threshold yet (no history of its state)
    yaml = Path(objectives)
    yaml.write_text(
        OBJECTIVES
        + "  - name: waits\n    workflow: wait-signal\n    objective: 0.9\n"
        + "    sli: {kind: stuck_ratio, thresholds: {go: 0s}}\n"
    )
    result = ok(invoke("slo", "stuck", "--app", "cli_app:app", "--objectives", str(yaml)))
    assert "w1" in result.stdout and "waiting for signal 'go'" in result.stdout


def test_bad_input_is_one_line_with_the_fix(invoke: Invoke, tmp_path: Path, db_url: str) -> None:
    daytwo.App(db_url).list()  # create the database
    result = invoke("slo", "status")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: no objectives to evaluate: pass --app")
    bad = tmp_path / "bad.yaml"
    bad.write_text(OBJECTIVES.replace("within: 1m", "within: 7m"))
    result = invoke("slo", "status", "--objectives", str(bad))
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"error: {bad}:10: objectives[1].sli.within: 7m is not a bound of the stored "
        "cycle-time histogram; use 5m or 10m"
    )
    assert len(result.stderr.strip().splitlines()) == 1
