"""``daytwo purge``: a dry run by default, ``--yes`` deletes (ended instances only), bad
input is one line with exit code 2 and changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _cli import (
    Invoke,
    clean_cli_environment,  # noqa: F401 -- an autouse fixture, active once imported
    cli_invoker,
)

import daytwo


@pytest.fixture
def invoke(db_url: str) -> Invoke:
    return cli_invoker(db_url)


@pytest.fixture
def user_app(db_url: str) -> daytwo.App:
    import cli_app

    cli_app.app.database_url = db_url
    for n in range(3):
        cli_app.app.run("greet", {"name": f"n{n}"}, id=f"g{n}")
    cli_app.app.start("wait-signal", None, id="w1")
    return cli_app.app


def ids(app: daytwo.App) -> set[str]:
    return {instance.id for instance in app.list()}


def test_a_dry_run_counts_and_yes_deletes_only_ended_instances(
    invoke: Invoke, user_app: daytwo.App, tmp_path: Path
) -> None:
    dry = invoke("purge", "--before", "0s", env={"COLUMNS": "200"})
    assert dry.exit_code == 0, dry.stderr
    assert "3 ended instance(s)" in dry.stdout and "--yes" in dry.stdout
    assert ids(user_app) == {"g0", "g1", "g2", "w1"}
    counted = json.loads(invoke("purge", "--before", "0s", "--dry-run", "--json").stdout)
    assert (counted["count"], counted["dry_run"], counted["deleted"]) == (3, True, 0)
    done = invoke(
        "purge", "--before", "0s", "--workflow", "greet", "--yes", "--batch", "2",
        "--archive", str(tmp_path / "archive"), "--reason", "tidy", "--by", "ann", "--json",
    )  # fmt: skip
    assert done.exit_code == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["deleted"], len(report["archives"])) == (3, 2)
    assert ids(user_app) == {"w1"}
    audit = json.loads(invoke("audit", "list", "--json").stdout)
    assert [(a["action"], a["actor"], a["count"], a["outcome"]) for a in audit] == [
        ("purge", "ann", 3, "done")
    ]
    again = invoke("purge", "--before", "0s", "--yes")
    assert again.exit_code == 0 and "nothing to purge" in again.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--before", "soon"], "--before 'soon' is not a time ago"),
        (["--before", "2999-01-01"], "is in the future"),
        (["--before", "1d", "--workflow", "nope"], "no workflow named 'nope'"),
        (["--before", "1d", "--dry-run", "--yes"], "give --dry-run or --yes, not both"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(
    invoke: Invoke, user_app: daytwo.App, args: list[str], message: str
) -> None:
    result = invoke("purge", *args, "--yes" if "--yes" not in args else "--json")
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert ids(user_app) == {"g0", "g1", "g2", "w1"}


def test_an_unwritable_archive_directory_is_refused(
    invoke: Invoke, user_app: daytwo.App, tmp_path: Path
) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    result = invoke("purge", "--before", "0s", "--yes", "--archive", str(blocked / "sub"))
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert "cannot write archives" in result.stderr
    assert ids(user_app) == {"g0", "g1", "g2", "w1"}
