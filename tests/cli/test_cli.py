"""The ``daytwo`` command line: every command, its JSON, its errors and exit codes."""

from __future__ import annotations

import getpass
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from _cli import (
    Invoke,
    clean_cli_environment,  # noqa: F401 -- an autouse fixture, active once imported
    cli_invoker,
)
from typer.testing import CliRunner, Result

import daytwo
from daytwo.api import _tables as _api_tables  # noqa: F401 -- its table joins the metadata
from daytwo.cli._main import app as cli
from daytwo.incidents import _tables as _incident_tables  # noqa: F401 -- its tables join
from daytwo.slo import _tables as _slo_tables  # noqa: F401 -- its tables join the metadata
from daytwo.store._database import open_engine
from daytwo.store._schema import metadata

TESTS_DIR = Path(__file__).resolve().parents[1]
DAYTWO = str(Path(sys.executable).with_name("daytwo"))
APP = "cli_app:app"


@pytest.fixture
def invoke(db_url: str) -> Invoke:
    """Run the CLI in-process against the test's database (given by $DAYTWO_DATABASE)."""
    return cli_invoker(db_url)


@pytest.fixture
def user_app(db_url: str) -> daytwo.App:
    """The test app module's App, on the test's database (the CLI's --app loads the same)."""
    import cli_app

    cli_app.app.database_url = db_url
    return cli_app.app


@pytest.fixture
def seeded(user_app: daytwo.App) -> daytwo.App:
    """A database with a succeeded, a failed and a waiting instance."""
    user_app.run("greet", {"name": "Ada"}, id="g1")
    with pytest.raises(daytwo.WorkflowFailed):
        user_app.run("doomed", None, id="d1")
    user_app.start("wait-signal", None, id="w1")
    return user_app


def ok(result: Result) -> Result:
    """Assert success, showing the output otherwise."""
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result


def assert_error(result: Result, code: int, *fragments: str) -> None:
    """Exit ``code``, one ``error:`` line on stderr naming ``fragments``, nothing else."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert result.stdout == ""
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit | None)


def snapshot(url: str) -> dict[str, list[Any]]:
    """Every row of every table, to show that a refused command changed nothing (but the
    audit log, which records a refusal as one: tests/test_audit.py)."""
    engine = open_engine(url, migrate=False)
    try:
        with engine.connect() as conn:
            return {
                table.name: sorted(map(repr, conn.execute(sa.select(table))))
                for table in metadata.sorted_tables
                if table.name != "audit_log"
            }
    finally:
        engine.dispose()


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    """Poll until ``condition()`` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


# -- help and version ---------------------------------------------------------------------


def test_help_lists_commands_and_exit_codes(invoke: Invoke) -> None:
    output = ok(invoke("--help")).stdout
    for command in ("start", "status", "list", "history", "signal", "cancel", "tasks", "worker"):
        assert command in output
    words = " ".join(output.replace("│", " ").split())
    assert "Exit codes" in words and "3 instance or task not found" in words
    for code in range(8):
        assert f"; {code} " in words or f": {code} " in words, code
    assert daytwo.__version__ in ok(invoke("--version")).stdout


def test_options_show_no_type_placeholders_in_help() -> None:
    """Flags show no ``<bool>``; options with a value name it (``N``, ``SECONDS``)."""
    commands = [[], ["start"], ["list"], ["worker"], ["tasks", "list"], ["tasks", "complete"]]
    commands += [["metrics", "serve"], ["slo", "alerts"], ["slo", "stuck"], ["queues", "set"]]
    commands += [["demo"], ["pause"], ["signal"], ["dependencies", "set"]]
    for command in commands:
        output = ok(CliRunner().invoke(cli, [*command, "--help"], env={"COLUMNS": "200"})).stdout
        for line in output.splitlines():
            if "--" in line:  # an option's line (Typer shows arguments with their type)
                assert not re.search(r"<(bool|str|int|float|list)", line), (command, line)


# -- start ----------------------------------------------------------------------------------


def test_start_prints_the_id_and_is_idempotent(invoke: Invoke, user_app: daytwo.App) -> None:
    first = ok(invoke("start", "greet", '{"name": "Ada"}', "--app", APP, "--id", "g1"))
    assert first.stdout == "g1\n"
    assert "started instance g1" in first.stderr
    again = ok(invoke("start", "greet", '{"name": "Ada"}', "--app", APP, "--id", "g1"))
    assert again.stdout == "g1\n" and "already exists" in again.stderr
    conflict = invoke("start", "greet", '{"name": "Bob"}', "--app", APP, "--id", "g1")
    assert_error(conflict, 6, "'g1' already exists with a different input", "new id")
    as_json = json.loads(
        ok(invoke("start", "greet", '{"name":"Ada"}', "--app", APP, "--id", "g1", "--json")).stdout
    )
    assert as_json["id"] == "g1" and as_json["created"] is False
    assert as_json["input"] == {"name": "Ada"}
    generated = ok(invoke("start", "greet", '{"name": "Cy"}', "--app", APP)).stdout.strip()
    assert user_app.get(generated).input == {"name": "Cy"}


def test_start_takes_the_app_from_the_environment(invoke: Invoke, user_app: daytwo.App) -> None:
    ok(invoke("start", "greet", '{"name": "Ada"}', "--id", "e1", env={"DAYTWO_APP": APP}))
    assert user_app.get("e1").workflow == "greet"


def test_start_wait_prints_the_output_or_fails(invoke: Invoke, user_app: daytwo.App) -> None:
    with user_app.worker(concurrency=2, poll_interval=0.05):
        done = ok(invoke("start", "greet", '{"name": "Ada"}', "--app", APP, "--id", "g1", "--wait"))
        lines = done.stdout.splitlines()
        assert lines[0] == "g1"
        assert json.loads("\n".join(lines[1:])) == {"greeting": "hello Ada"}
        failed = invoke("start", "doomed", "--app", APP, "--id", "d1", "--wait", "--timeout", "20")
    assert failed.exit_code == 1
    assert failed.stdout == "d1\n"
    assert failed.stderr.splitlines()[-1].startswith("error: instance 'd1' ended FAILED")


def test_start_wait_times_out_with_its_own_exit_code(invoke: Invoke, user_app: daytwo.App) -> None:
    result = invoke(
        "start", "wait-signal", "--app", APP, "--id", "w1", "--wait", "--timeout", "0.1"
    )
    assert result.exit_code == 7  # a failure is 1
    assert result.stderr.splitlines()[-1].startswith("error: instance 'w1' is still RUNNABLE")
    assert user_app.get("w1").status == "RUNNABLE"


def test_database_option_replaces_the_apps_own_url(
    invoke: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the app's own default would be ./daytwo.db
    other = f"sqlite:///{tmp_path / 'other.db'}"
    ok(invoke("start", "greet", '{"name": "Ada"}', "--app", APP, "--id", "x1", "--database", other))
    assert not (tmp_path / "daytwo.db").exists()
    listed = json.loads(ok(invoke("list", "--json", "--database", other)).stdout)
    assert [i["id"] for i in listed] == ["x1"]


# -- reading instances ----------------------------------------------------------------------


def test_status_as_table_and_json(invoke: Invoke, seeded: daytwo.App) -> None:
    table = ok(invoke("status", "g1")).stdout
    assert "g1" in table and "SUCCEEDED" in table and "hello Ada" in table
    data = json.loads(ok(invoke("status", "g1", "--json")).stdout)
    assert data["status"] == "SUCCEEDED" and data["output"] == {"greeting": "hello Ada"}
    failed = json.loads(ok(invoke("status", "d1", "--json")).stdout)
    assert failed["status"] == "FAILED" and failed["error"]["type"] == "StepFailed"
    assert "StepFailed" in ok(invoke("status", "d1")).stdout


def test_list_with_filters(invoke: Invoke, seeded: daytwo.App) -> None:
    def ids(*args: str) -> list[str]:
        return sorted(i["id"] for i in json.loads(ok(invoke("list", "--json", *args)).stdout))

    assert ids() == ["d1", "g1", "w1"]
    assert ids("--status", "succeeded") == ["g1"]
    assert ids("--status", "SUCCEEDED", "--status", "FAILED") == ["d1", "g1"]
    assert ids("--workflow", "wait-signal") == ["w1"]
    assert ids("--state", "queued") == ["w1"]
    assert len(ids("--limit", "1")) == 1
    table = ok(invoke("list")).stdout
    assert all(name in table for name in ("g1", "d1", "w1", "3 instance(s)"))


def test_history_shows_events_attempts_and_transitions(invoke: Invoke, seeded: daytwo.App) -> None:
    data = json.loads(ok(invoke("history", "d1", "--json")).stdout)
    assert data["instance"]["id"] == "d1"
    assert [(e["kind"], e["name"], e["outcome"]) for e in data["history"]] == [
        ("step", "always_fails", "failed")
    ]
    assert [a["attempt"] for a in data["attempts"]] == [1, 2]
    assert data["attempts"][0]["error"]["type"] == "ConnectionError"
    assert [t["to_state"] for t in data["transitions"]][-1] == "failed"
    table = ok(invoke("history", "d1")).stdout
    for title in ("History", "Failed attempts", "State transitions", "ConnectionError"):
        assert title in table
    assert "Failed attempts" not in ok(invoke("history", "g1")).stdout


def test_text_that_looks_like_markup_is_shown_as_is(invoke: Invoke, user_app: daytwo.App) -> None:
    odd = "[/x]"
    user_app.start("approval", odd, id="m1")
    with user_app.worker(concurrency=1, poll_interval=0.05) as worker:
        worker.drain()
    assert odd in ok(invoke("status", "m1")).stdout
    assert odd in ok(invoke("tasks", "list")).stdout
    assert "approve" in ok(invoke("history", "m1")).stdout


# -- acting on instances --------------------------------------------------------------------


def test_signal_and_cancel(invoke: Invoke, user_app: daytwo.App) -> None:
    user_app.start("wait-signal", None, id="w1")
    user_app.start("wait-signal", None, id="w2")
    with user_app.worker(concurrency=2, poll_interval=0.05) as worker:
        worker.drain()
        ok(invoke("signal", "w1", "go", '{"x": 1}', "--by", "ops"))
        assert user_app.result("w1", timeout=20) == {"x": 1}
        assert (
            "cancellation of w2 requested" in ok(invoke("cancel", "w2", "--reason", "test")).stdout
        )
        wait_for(lambda: user_app.get("w2").status == "CANCELLED")
    assert user_app.get("w2").cancel_reason == "test"
    assert_error(invoke("cancel", "w2"), 5, "already ended CANCELLED")
    assert_error(invoke("signal", "w1", "go"), 5, "SUCCEEDED")


def test_tasks_list_reassign_complete(invoke: Invoke, user_app: daytwo.App) -> None:
    def tasks(*args: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = json.loads(
            ok(invoke("tasks", "list", "--json", *args)).stdout
        )
        return result

    ok(invoke("start", "approval", "1500", "--app", APP, "--id", "a1"))
    with user_app.worker(concurrency=1, poll_interval=0.05) as worker:
        worker.drain()
        [task] = tasks()
        assert task["instance_id"] == "a1" and task["payload"] == {"amount": 1500}
        assert task["id"] in ok(invoke("tasks", "list")).stdout
        assert tasks("--assignee", "bob") == []
        ok(invoke("tasks", "reassign", task["id"], "bob", "--by", "alice"))
        assert [t["id"] for t in tasks("--assignee", "bob")] == [task["id"]]
        ok(invoke("tasks", "complete", task["id"], '{"approved": true}', "--by", "bob"))
        assert user_app.result("a1", timeout=20) == {"approved": True}
    assert tasks() == []
    [done] = tasks("--all")
    assert done["status"] == "completed" and done["completed_by"] == "bob"
    assert_error(invoke("tasks", "complete", task["id"], "{}"), 5, "already completed")
    assert_error(invoke("tasks", "reassign", task["id"], "carol"), 5, "only open tasks")


def test_actions_without_by_record_the_user_running_the_command(
    invoke: Invoke, user_app: daytwo.App
) -> None:
    user = getpass.getuser()
    user_app.start("approval", 10, id="a1")
    user_app.start("wait-signal", None, id="w1")
    with user_app.worker(concurrency=1, poll_interval=0.05) as worker:
        worker.drain()
        [task] = user_app.tasks.list()
        ok(invoke("tasks", "complete", task.id, "true"))
        ok(invoke("signal", "w1", "go"))
        assert user_app.result("a1", timeout=20) is True
    assert user_app.tasks.get(task.id).completed_by == user
    ok(invoke("pause", "greet"))
    assert [p["paused_by"] for p in json.loads(ok(invoke("pauses", "--json")).stdout)] == [user]


# -- refused input --------------------------------------------------------------------------

BAD_INPUT = [
    (["status", "nope"], 3, ["no instance with id 'nope'"]),
    (["history", "nope"], 3, ["no instance with id 'nope'"]),
    (["signal", "nope", "go"], 3, ["no instance with id 'nope'"]),
    (["cancel", "nope"], 3, ["no instance with id 'nope'"]),
    (["tasks", "complete", "nope"], 3, ["no human task with id 'nope'"]),
    (["tasks", "reassign", "nope", "bob"], 3, ["no human task with id 'nope'"]),
    (
        ["start", "greet", '{"name": ', "--app", APP],
        2,
        ["INPUT_JSON is not valid JSON", "column 10", """'{"total": 10}'"""],
    ),
    (["signal", "w1", "go", "{oops}"], 2, ["PAYLOAD_JSON is not valid JSON"]),
    (["tasks", "complete", "t1", "yes"], 2, ["RESULT_JSON is not valid JSON"]),
    (
        ["start", "gret", "{}", "--app", APP],
        2,
        ["unknown workflow 'gret'", "approval, doomed, greet, wait-signal"],
    ),
    (["start", "greet", "{}", "--app", APP, "--version", "9"], 2, ["version '9'"]),
    (["start", "greet", "{}"], 2, ["--app MODULE:APP"]),
    (["start", "greet", "{}", "--app", "cli_app"], 2, ["is not MODULE:APP"]),
    (["start", "greet", "{}", "--app", "no_such_module:app"], 2, ["cannot import module"]),
    (["start", "greet", "{}", "--app", "cli_app:missing"], 2, ["no attribute 'missing'", "app"]),
    (
        ["start", "greet", "{}", "--app", "cli_app:not_an_app"],
        2,
        ["is an object of type int, not a daytwo.App"],
    ),
    (["worker", "cli_app:missing"], 2, ["no attribute 'missing'"]),
    (["worker"], 2, ["MODULE:APP"]),
    (["list", "--status", "DONE"], 2, ["unknown status 'DONE'", "SUCCEEDED"]),
]


@pytest.mark.parametrize(
    ("args", "code", "fragments"), BAD_INPUT, ids=[" ".join(case[0]) for case in BAD_INPUT]
)
def test_bad_input_is_one_line_with_an_exit_code_and_changes_nothing(
    invoke: Invoke,
    seeded: daytwo.App,
    db_url: str,
    args: list[str],
    code: int,
    fragments: list[str],
) -> None:
    before = snapshot(db_url)
    assert_error(invoke(*args), code, *fragments)
    assert snapshot(db_url) == before


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["list"], 4),
        (["tasks", "list"], 4),
        (["start", "greet", "{}", "--app", APP], 4),
        # looking up an id where there is no database at all: not found (README)
        (["status", "x"], 3),
        (["history", "x"], 3),
        (["signal", "x", "go"], 3),
        (["cancel", "x"], 3),
        (["tasks", "complete", "t1"], 3),
    ],
    ids=["list", "tasks", "start", "status", "history", "signal", "cancel", "complete"],
)
def test_missing_database_is_named_with_its_exit_code(
    invoke: Invoke, tmp_path: Path, args: list[str], code: int
) -> None:
    missing = tmp_path / "missing" / "daytwo.db"
    assert_error(invoke(*args, "--database", f"sqlite:///{missing}"), code, str(missing.parent))
    assert not missing.parent.exists()


def test_status_of_an_unknown_id_without_a_database_exits_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # a folder without daytwo.db
    result = CliRunner().invoke(cli, ["status", "nope"], env={})
    assert_error(result, 3, "no instance with id 'nope'", f"no daytwo database at '{tmp_path}")
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_is_not_a_database_exits_4(invoke: Invoke, tmp_path: Path) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("not a database\n" * 100)
    assert_error(invoke("list", "--database", f"sqlite:///{junk}"), 4, "not a database")
    assert junk.read_text() == "not a database\n" * 100


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("mysql://db/x", "unsupported database backend 'mysql'"),
        ("notaurl", "malformed database URL 'notaurl'"),
        ("sqlite://", "needs a SQLite file"),
        ("postgresql+asyncpg://u@localhost/db", "unsupported PostgreSQL driver"),
    ],
)
@pytest.mark.parametrize("command", [["list"], ["start", "greet", "{}", "--app", APP]])
def test_bad_database_url_is_bad_usage_exit_2(url: str, fragment: str, command: list[str]) -> None:
    result = CliRunner().invoke(cli, [*command, "--database", url], env={})
    assert_error(
        result, 2, fragment, "write postgresql://" if "postgresql" in url else "sqlite:///"
    )


def test_usage_errors_exit_2(invoke: Invoke) -> None:
    assert invoke("list", "--limit", "zero").exit_code == 2
    assert invoke("status").exit_code == 2
    assert invoke("no-such-command").exit_code == 2


def test_database_option_before_or_after_the_command(
    invoke: Invoke, seeded: daytwo.App, db_url: str, tmp_path: Path
) -> None:
    other = f"sqlite:///{tmp_path / 'other.db'}"
    daytwo.App(other).list()  # create an empty database
    runner = CliRunner()

    def count(*args: str, env: dict[str, str] | None = None) -> int:
        result = ok(runner.invoke(cli, [*args], env=env or {}))
        return len(json.loads(result.stdout))

    assert count("--database", db_url, "list", "--json") == 3
    assert count("list", "--json", "--database", db_url) == 3
    assert count("--database", other, "list", "--json", "--database", db_url) == 3
    assert count("list", "--json", env={"DAYTWO_DATABASE": other}) == 0
    assert count("--database", db_url, "list", "--json", env={"DAYTWO_DATABASE": other}) == 3


# -- real processes -------------------------------------------------------------------------


def run_daytwo(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the installed ``daytwo`` script from the tests directory."""
    return subprocess.run(
        [DAYTWO, *args], cwd=TESTS_DIR, env=env, capture_output=True, text=True, timeout=60
    )


def test_worker_process_runs_instances_and_exits_0_on_sigterm(db_url: str) -> None:
    env = {**os.environ, "DAYTWO_DATABASE": db_url, "PYTHONUNBUFFERED": "1"}
    env.pop("DAYTWO_APP", None)
    for n in range(3):
        started = run_daytwo("start", "greet", json.dumps({"name": f"n{n}"}), "--app", APP,
                             "--id", f"p{n}", env=env)  # fmt: skip
        assert started.returncode == 0, started.stderr
        assert started.stdout == f"p{n}\n"
    worker = subprocess.Popen(
        [DAYTWO, "worker", APP, "--concurrency", "2", "--poll-interval", "0.05"],
        cwd=TESTS_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    client = daytwo.App(db_url)
    try:
        wait_for(
            lambda: all(client.get(f"p{n}").status == "SUCCEEDED" for n in range(3)), timeout=30
        )
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        client.close()
    assert worker.returncode == 0, err
    assert "Traceback" not in err
    assert "cli_app:app" not in out  # notes go to stderr
    assert "greet" in err and "stopped" in err
    assert client.get("p0").output == {"greeting": "hello n0"}


def test_installed_script_reports_errors_without_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "DAYTWO_DATABASE": f"sqlite:///{tmp_path / 'nowhere' / 'x.db'}"}
    result = run_daytwo("list", env=env)
    assert result.returncode == 4
    assert result.stderr.startswith("error: no daytwo database at ")
    assert len(result.stderr.splitlines()) == 1
    assert result.stdout == ""


def test_python_dash_m_daytwo_runs_the_command(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DAYTWO_DATABASE"}
    result = subprocess.run(
        [sys.executable, "-m", "daytwo", "status", "nope"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 3, result.stderr
    assert result.stderr.startswith("error: no instance with id 'nope': no daytwo database at")
    help_text = subprocess.run(
        [sys.executable, "-m", "daytwo", "--help"], capture_output=True, text=True, timeout=60
    )
    assert help_text.returncode == 0 and "Usage: daytwo" in help_text.stdout
