"""``daytwo demo`` and the example app built on the demo's workflow."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

import daytwo
from daytwo.cli._main import app as cli
from daytwo.demo import create_app, plan_orders

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _no_ambient_database(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DAYTWO_DATABASE", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


def test_demo_runs_on_a_fresh_database_and_summarizes(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["demo"])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    out = result.stdout
    for expected in ("Summary", "Instances by status", "SUCCEEDED", "COMPENSATED",
                     "Retries:", "Compensations:", "Time in state", "carrier-pickup",
                     "manager-approval", "manager rejected", "Service level objectives",
                     "order-success", "Alerts raised", "slo/order-success/page",
                     "Circuit breaker: payments-api opened", "payments-api closed",
                     "Operator: demo-operator instance.retry A-1009",
                     "breaker list", "audit list"):  # fmt: skip
        # Rich wraps long lines at the terminal's width: compare the words, not the breaks
        # (a circuit that opened twice pushes "payments-api closed" across a line end).
        assert expected in " ".join(out.split()), expected
    assert int(re.search(r"Retries: (\d+)", out).group(1)) > 0  # type: ignore[union-attr]
    assert int(re.search(r"Compensations: (\d+)", out).group(1)) > 0  # type: ignore[union-attr]
    url = re.search(r"database: (sqlite:///\S+)", out).group(1)  # type: ignore[union-attr]
    assert Path(url.removeprefix("sqlite:///")).is_relative_to(tmp_path)
    # the database can be inspected afterwards
    listed = CliRunner().invoke(
        cli, ["list", "--database", url, "--json", "--status", "compensated"]
    )
    assert listed.exit_code == 0
    assert len(json.loads(listed.stdout)) >= 1


def test_demo_json_summary(db_url: str) -> None:
    result = CliRunner().invoke(cli, ["demo", "--json", "--database", db_url, "--orders", "14"])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    summary = json.loads(result.stdout)
    assert summary["database"] == db_url and summary["instances"] == 14
    assert len(summary["instance_ids"]) == 14
    # one large order is rejected by the manager, order 12 cannot be shipped
    assert summary["by_status"] == {"SUCCEEDED": 12, "COMPENSATED": 2}
    assert summary["retries"] > 0 and summary["failed_attempts"] >= summary["retries"]
    assert summary["compensations_by_step"] == {"reserve_inventory": 2, "charge_card": 1}
    # the payment provider's outage opened the circuit, which closed once it was over;
    # order 9 parked at ship (no street) until the operator corrected it and retried
    assert summary["circuit_changes"][0] == "payments-api opened"
    assert summary["circuit_changes"][-1] == "payments-api closed"
    [retried] = summary["operator_actions"]
    assert retried.startswith("demo-operator instance.retry A-1009")
    # 2 of 14 orders compensated: 14% errors against a 0.5% budget pages at once
    success = next(s for s in summary["slos"] if s["name"] == "order-success")
    assert success["good"] == 12 and success["valid"] == 14
    assert {a["dedup_key"] for a in summary["alerts"]} >= {"slo/order-success/page"}
    # The injected payment failures opened an incident for payments-api (a critical
    # dependency: SEV1) that resolved when its circuit closed; the parked order one that
    # its operator resolved; the page-level burn one still open.
    incidents = {i["kind"]: i for i in summary["incidents"]}
    circuit = incidents["circuit.opened"]
    assert (circuit["severity"], circuit["status"], circuit["dependency"]) == (
        "SEV1", "resolved", "payments-api",
    )  # fmt: skip
    assert circuit["assignee"] == "order-platform" and circuit["resolved_by"] == "rule"
    assert incidents["instance.parked"]["resolved_by"] == "demo-operator"
    assert incidents["slo.page"]["status"] == "triggered"
    states = {entry["state"] for entry in summary["time_in_state"]}
    assert {"reserve_inventory", "manager-approval", "charge_card", "carrier-pickup"} <= states
    rejected = daytwo.App(db_url).get(
        next(i for i in summary["instance_ids"] if i.startswith("A-1008"))
    )
    assert rejected.status == "COMPENSATED" and "manager rejected" in rejected.error["message"]  # type: ignore[index]


def test_the_plan_is_the_same_for_the_same_seed() -> None:
    plan = plan_orders(20, seed=3)
    assert plan == plan_orders(20, seed=3)
    assert plan.reject == {"A-1008"}
    assert sum(order["total"] > 1000 for order in plan.orders) == 4
    assert [order["id"] for order in plan.orders if order["country"] == "Atlantis"] == ["A-1012"]


def test_example_app_runs_the_order_workflow(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    # A fresh import per backend: the module's app binds to the database of its first use.
    monkeypatch.delitem(sys.modules, "examples.orders", raising=False)
    started = CliRunner().invoke(
        cli,
        ["start", "order", '{"id": "A-1", "total": 20, "country": "France"}',
         "--app", "examples.orders:app", "--id", "o1", "--database", db_url],
    )  # fmt: skip
    assert started.exit_code == 0, started.stderr
    app = create_app(db_url)
    with app.worker(concurrency=1, poll_interval=0.05):
        assert app.result("o1", timeout=30) == {
            "reservation": "res-A-1",
            "charge": "ch-A-1",
            "tracking": "TRK-A-1",
        }
    app.close()


def test_the_commands_the_demo_prints_work_from_any_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pasted into a shell without the virtualenv activated, elsewhere than the repository."""
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # .venv/bin not on it
    result = CliRunner().invoke(cli, ["demo", "--orders", "14"])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    commands = result.stdout.split("Inspect what happened:\n", 1)[1].splitlines()
    commands = [line.strip() for line in commands if line.strip()]
    assert len(commands) == 9 and any(" history " in c for c in commands), commands
    assert any(" incidents show 1 " in c for c in commands), commands
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for command in commands:
        run = subprocess.run(
            ["/bin/sh", "-c", command], cwd=elsewhere, capture_output=True, text=True,
            timeout=120, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "COLUMNS": "120"},
        )  # fmt: skip
        assert run.returncode == 0, (command, run.stdout, run.stderr)
        assert run.stdout.strip(), command
    assert list(elsewhere.iterdir()) == []


def test_the_demo_names_daytwo_plainly_when_it_is_on_the_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from daytwo.cli._demo import daytwo_command

    script = Path(sys.executable).with_name("daytwo")
    monkeypatch.setenv("PATH", f"{script.parent}:/usr/bin:/bin")
    assert daytwo_command() == "daytwo"
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert daytwo_command() == str(script)
