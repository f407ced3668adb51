"""``daytwo owners check | apply | show``: validation errors as one line, versions,
warnings about workflows without an owner, and the RACI table per severity."""

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
from daytwo.incidents import IncidentsExtension
from daytwo.incidents._ownership import parse_ownership
from daytwo.incidents._registry import apply, history

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ownership.yaml"

BAD = "people: {ann: {}}\nworkflows:\n  order:\n    business_owner: ann\n    it_team: ann\n"


@pytest.fixture
def invoke(db_url: str) -> Invoke:
    return cli_invoker(db_url, COLUMNS="200")


@pytest.fixture
def database(db_url: str) -> str:
    """A daytwo database with instances of the ``greet`` and ``order`` workflows."""
    app = daytwo.App(db_url)

    @app.workflow(name="greet")
    def greet(ctx: daytwo.Context, name: str) -> str:
        return name

    @app.workflow(name="order")
    def order(ctx: daytwo.Context, value: int) -> int:
        return value

    app.run("greet", "Ada")
    app.run("order", 1)
    app.close()
    return db_url


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result


def refused(result: Result, code: int, message: str) -> None:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert result.stderr.splitlines() == [f"error: {message}"]


def test_check_validates_and_warns_about_unowned_workflows(
    invoke: Invoke, database: str, tmp_path: Path
) -> None:
    checked = ok(invoke("owners", "check", str(EXAMPLE)))
    assert "valid (1 workflow(s), 2 dependency(ies))" in checked.stdout
    # greet has instances in the database and no owner; order is owned.
    assert checked.stderr.splitlines() == [
        f"warning: workflows without an owner in {EXAMPLE}: greet (give each a business_owner "
        "and an it_team under workflows:)"
    ]
    with_app = ok(invoke("owners", "check", str(EXAMPLE), "--app", "cli_app:app"))
    assert "approval, doomed, greet, wait-signal" in with_app.stderr
    bad = tmp_path / "ownership.yaml"
    bad.write_text(BAD)
    refused(
        invoke("owners", "check", str(bad)), 2,
        f"{bad}:5: workflows.order.it_team: 'ann' is not a known team; none is defined (add it "
        "to the file)",
    )  # fmt: skip


def test_check_needs_no_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    run = cli_invoker(f"sqlite:///{tmp_path / 'none.db'}")
    assert ok(run("owners", "check", str(EXAMPLE))).stderr == ""
    assert not (tmp_path / "none.db").exists()


def test_apply_stores_one_version_per_content_and_nothing_on_a_bad_file(
    invoke: Invoke, database: str, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    assert invoke("owners", "apply", str(bad)).exit_code == 2
    refused(
        invoke("owners", "show"), 3,
        "no ownership registry applied yet; write an ownership.yaml and run "
        "`daytwo owners apply ownership.yaml`",
    )  # fmt: skip
    first = ok(invoke("owners", "apply", str(EXAMPLE), "--by", "ann"))
    assert first.stdout == "ownership version 1 applied\n"
    assert ok(invoke("owners", "apply", str(EXAMPLE))).stdout == "unchanged (version 1)\n"
    changed = tmp_path / "ownership.yaml"
    changed.write_text(EXAMPLE.read_text().replace("criticality: high", "criticality: low"))
    assert ok(invoke("owners", "apply", str(changed))).stdout == "ownership version 2 applied\n"
    app = daytwo.App(database)
    try:
        assert next((v.version, v.created_by) for v in history(app.store)) == (1, "ann")
    finally:
        app.close()
    audit = json.loads(ok(invoke("audit", "list", "--json")).stdout)
    applied = [row for row in audit if row["action"] == "ownership.apply"]
    assert [row["target"] for row in applied] == ["2", "1"]


def test_show_prints_the_raci_per_severity(invoke: Invoke, database: str) -> None:
    ok(invoke("owners", "apply", str(EXAMPLE)))
    table = ok(invoke("owners", "show", "order")).stdout
    lines = table.splitlines()
    assert lines[0] == "order (workflow, criticality critical)"
    assert lines[1] == (
        "vendor: stripe; contact support@stripe.example; SLA 99.99% monthly uptime; P1 "
        "response within 1h; status https://status.stripe.com"
    )
    assert "escalation policy: payments-default" in lines
    assert "runbooks: https://wiki.shop.example/runbooks/order, stuck-instances" in lines
    rows = {line.split()[0]: line.split() for line in lines if line.startswith("SEV")}
    assert rows["SEV1"] == ["SEV1", "payments-it,", "ann", "ann", "stripe", "finance,",
                            "logistics-it"]  # fmt: skip
    assert rows["SEV2"] == ["SEV2", "payments-it", "ann", "stripe", "finance"]
    assert rows["SEV4"] == ["SEV4", "payments-it", "payments-it", "stripe", "-"]
    assert "R (responsible)" in table and "I (informed)" in table
    shown = json.loads(ok(invoke("owners", "show", "order", "--json")).stdout)
    assert shown["version"] == 1 and shown["raci"]["SEV3"] == {
        "R": ["payments-it"], "A": ["ann"], "C": ["stripe"], "I": ["finance"],
    }  # fmt: skip
    listing = ok(invoke("owners", "show")).stdout
    assert "payments-api" in listing and "carrier-api" in listing and "BUSINESS OWNER" in listing
    entries = json.loads(ok(invoke("owners", "show", "--json")).stdout)["entries"]
    assert [e["name"] for e in entries] == ["order", "carrier-api", "payments-api"]
    refused(
        invoke("owners", "show", "nope"), 3,
        "no workflow or dependency 'nope' in the ownership registry (entries: carrier-api, "
        "order, payments-api)",
    )  # fmt: skip


def test_unowned_warning_at_worker_start(fake_app: daytwo.App) -> None:
    unowned_warning = fake_app.extension(IncidentsExtension).unowned_warning
    assert unowned_warning() is None  # no workflows

    @fake_app.workflow(name="order")
    def order(ctx: daytwo.Context) -> None:
        return None

    @fake_app.workflow(name="greet")
    def greet(ctx: daytwo.Context) -> None:
        return None

    expected = (
        "workflows without an owner in ownership.yaml: {} (give each a business_owner and an "
        "it_team under workflows:, then `daytwo owners apply`)"
    )
    assert unowned_warning() == expected.format("greet, order")
    apply(fake_app.store, parse_ownership(EXAMPLE.read_text()), source="x", by="t", now=0.0)
    assert unowned_warning() == expected.format("greet")
