"""The command-line grammar, ``daytwo NOUN VERB`` (issue 10 item 7).

The nouns and their verbs, the older spellings kept as the same commands (hidden from the
top-level help, named in its epilog), ``--json`` on every command that prints, and the
exit codes unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from _cli import (
    Invoke,
    clean_cli_environment,  # noqa: F401 -- an autouse fixture, active once imported
    cli_invoker,
)
from typer.testing import Result

import daytwo
from daytwo.cli._main import app as cli
from daytwo.cli._nouns import OLDER_SPELLINGS

APP = "cli_app:app"
#: Commands owned elsewhere (the operations packages' groups, the worker, the demo).
NOT_HERE = {"worker", "demo", "slo", "metrics", "serve"}


@pytest.fixture
def invoke(db_url: str) -> Invoke:
    return cli_invoker(db_url)


@pytest.fixture
def seeded(db_url: str) -> Iterator[daytwo.App]:
    """The CLI test app's database with a succeeded, a waiting and a task-waiting instance,
    and a stopped worker's registration."""
    import cli_app

    app: daytwo.App = cli_app.app
    app.database_url = db_url
    app.run("greet", {"name": "Ada"}, id="g1")
    app.start("wait-signal", None, id="w1")
    app.start("approval", 5, id="a1")
    with app.worker() as worker:
        worker.drain()
    yield app


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result


def as_json(result: Result) -> Any:
    return json.loads(ok(result).stdout)


def root() -> Any:
    """The click command the ``daytwo`` Typer app builds."""
    return typer.main.get_command(cli)


def leaves(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every runnable command under ``command`` (a group has ``commands``), by its path."""
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            yield from leaves(sub, (*path, name))
    else:
        yield path


def test_the_top_level_help_shows_the_nouns_and_names_the_older_spellings(
    invoke: Invoke,
) -> None:
    output = ok(invoke("--help", env={"COLUMNS": "200"})).stdout
    listed = [line.split()[1] for line in output.splitlines() if line.startswith("│ ")]
    for noun in ("instance", "task", "workflow", "queue", "dependency"):
        assert noun in listed
    for older in ("list", "status", "pauses", "tasks", "queues", "dependencies"):
        assert older not in listed
    words = " ".join(output.replace("│", " ").split())
    assert "Older spellings still work: list = instance list; status = instance show" in words
    assert "Exit codes" in words


@pytest.mark.parametrize(
    ("noun", "verbs"),
    [
        (
            "instance",
            [
                *("list", "show", "start", "start-many", "signal", "cancel", "history"),
                *("restart", "fork", "explain", "retry", "skip", "resume", "abort"),
                *("terminate", "wake"),
            ],
        ),
        ("task", ["list", "show", "complete", "reassign", "cancel"]),
        ("workflow", ["list", "pause", "resume"]),
        ("queue", ["list", "set"]),
        ("dependency", ["list", "set"]),
        ("audit", ["list"]),
        ("workers", ["list"]),
        ("schedules", ["list", "show", "pause", "resume", "trigger"]),
    ],
)
def test_each_noun_has_its_verbs(noun: str, verbs: list[str]) -> None:
    assert list(root().commands[noun].commands) == verbs


def test_every_command_that_prints_takes_json() -> None:
    top = root()
    for path in leaves(top):
        if path[0] in NOT_HERE:
            continue
        command = top
        for name in path:
            command = command.commands[name]
        options = {opt for param in command.params for opt in getattr(param, "opts", [])}
        assert "--json" in options, path


def test_older_spellings_are_the_same_commands(invoke: Invoke, seeded: daytwo.App) -> None:
    pairs = [
        (["list"], ["instance", "list"]),
        (["status", "g1"], ["instance", "show", "g1"]),
        (["history", "g1"], ["instance", "history", "g1"]),
        (["tasks", "list"], ["task", "list"]),
        (["queues", "list"], ["queue", "list"]),
        (["dependencies", "list"], ["dependency", "list"]),
    ]
    for older, newer in pairs:
        assert as_json(invoke(*older, "--json")) == as_json(invoke(*newer, "--json")), older
    assert set(OLDER_SPELLINGS) >= {" ".join(p[0][:1]) for p in pairs}


def test_operator_commands_print_json(invoke: Invoke, seeded: daytwo.App) -> None:
    signalled = as_json(invoke("instance", "signal", "w1", "go", '"now"', "--json"))
    assert signalled["signal"] == "go" and signalled["instance"]["id"] == "w1"
    [task] = as_json(invoke("task", "list", "--json"))
    reassigned = as_json(invoke("task", "reassign", task["id"], "bob", "--json"))
    assert reassigned["assignee"] == "bob"
    completed = as_json(invoke("task", "complete", task["id"], "true", "--by", "bob", "--json"))
    assert (completed["status"], completed["completed_by"]) == ("completed", "bob")
    started = as_json(invoke("instance", "start", "wait-signal", "--id", "w2", "--json"))
    assert (started["id"], started["created"]) == ("w2", True)  # no --app: a Client
    cancelled = as_json(invoke("instance", "cancel", "w2", "--json"))
    assert cancelled["cancel_reason"] == "cancelled by operator"
    queue = as_json(invoke("queue", "set", "default", "--concurrency", "3", "--json"))
    assert queue["concurrency"] == 3
    paused = as_json(invoke("workflow", "pause", "greet", "--reason", "x", "--by", "ops", "--json"))
    assert (paused["workflow"], paused["reason"], paused["held"]) == ("greet", "x", 0)
    stepped = as_json(invoke("workflow", "pause", "greet", "--step", "make_greeting", "--json"))
    assert stepped["step"] == "make_greeting"
    resumed = as_json(invoke("workflow", "resume", "greet", "--step", "make_greeting", "--json"))
    assert resumed == {"workflow": "greet", "step": "make_greeting", "released": 0}
    limited = as_json(
        invoke("dependency", "set", "mail", "--concurrency", "2", "--force", "--json")
    )
    assert limited == {"name": "mail", "concurrency": 2}


def test_workflow_list_shows_registered_versions_and_pauses(
    invoke: Invoke, seeded: daytwo.App
) -> None:
    ok(invoke("workflow", "pause", "greet", "--reason", "maintenance"))
    ok(invoke("workflow", "pause", "ghost", "--force"))
    entries = {entry["name"]: entry for entry in as_json(invoke("workflow", "list", "--json"))}
    assert set(entries) == {
        "approval",
        "doomed",
        "greet",
        "wait-signal",
        "ghost",
    }
    greet = entries["greet"]
    assert (greet["version"], greet["queue"], greet["priority"], greet["live"]) == (
        "1",
        "default",
        0,
        False,
    )
    assert [(p["step"] or None, p["reason"]) for p in greet["pauses"]] == [(None, "maintenance")]
    assert entries["ghost"]["version"] is None
    table = ok(invoke("workflow", "list", env={"COLUMNS": "120"})).stdout
    assert "new starts (0 held): maintenance" in table
    assert "5 registered version(s)" not in table and "4 registered version(s)" in table


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["instance", "show", "nope"], 3),
        (["instance", "signal", "nope", "go"], 3),
        (["task", "complete", "nope"], 3),
        (["instance", "start", "nope"], 2),
        (["workflow", "pause", "nope"], 2),
        (["instance", "list", "--status", "DONE"], 2),
    ],
)
def test_exit_codes_are_those_of_the_older_spellings(
    invoke: Invoke, seeded: daytwo.App, args: list[str], code: int
) -> None:
    result = invoke(*args)
    assert result.exit_code == code, (result.exit_code, result.stderr)
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("error: ")
