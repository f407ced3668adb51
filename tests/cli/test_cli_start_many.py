"""``daytwo instance start-many WORKFLOW FILE``: one instance per JSON line, one commit,
all or nothing, idempotent with --id-key."""

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

APP = "cli_app:app"


@pytest.fixture
def invoke(db_url: str) -> Invoke:
    return cli_invoker(db_url)


@pytest.fixture
def user_app(db_url: str) -> daytwo.App:
    import cli_app

    cli_app.app.database_url = db_url
    return cli_app.app


def _ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result


def _error(result: Result, code: int, *fragments: str) -> None:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ")
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    assert "Traceback" not in result.output


def _lines(path: Path, *values: object) -> str:
    path.write_text("".join(json.dumps(v) + "\n" for v in values) + "\n")
    return str(path)


def test_start_many_from_a_file_then_again_starts_nothing_twice(
    invoke: Invoke, user_app: daytwo.App, tmp_path: Path
) -> None:
    people = _lines(tmp_path / "people.jsonl", {"name": "Ada"}, {"name": "Grace"})
    first = _ok(invoke("instance", "start-many", "greet", people, "--app", APP,
                       "--id-key", "name", "--json"))  # fmt: skip
    assert json.loads(first.stdout) == [
        {"id": "Ada", "created": True}, {"id": "Grace", "created": True}
    ]  # fmt: skip
    assert "started 2 instance(s) of greet" in first.stderr
    more = _lines(tmp_path / "more.jsonl", {"name": "Ada"}, {"name": "Alan"})
    again = _ok(invoke("instance", "start-many", "greet", more, "--app", APP,
                       "--id-key", "name"))  # fmt: skip
    assert again.stdout == "1\n"
    assert "1 existed already" in again.stderr
    assert {i.id for i in user_app.list()} == {"Ada", "Grace", "Alan"}


def test_start_many_by_name_reads_standard_input(invoke: Invoke, user_app: daytwo.App) -> None:
    user_app.store  # noqa: B018 -- the database exists
    result = _ok(invoke("instance", "start-many", "greet", "-", "--version", "1"))
    assert result.stdout == "0\n"  # an empty input starts nothing
    runner_input = '{"name": "Ada"}\n{"name": "Bob"}\n'
    from typer.testing import CliRunner

    from daytwo.cli._main import app as cli

    done = CliRunner().invoke(
        cli, ["instance", "start-many", "greet", "-", "--version", "1"],
        input=runner_input, env={"DAYTWO_DATABASE": user_app.database_url},
    )  # fmt: skip
    assert _ok(done).stdout == "2\n"
    assert len(user_app.list()) == 2


def test_bad_files_are_refused_in_one_line_and_nothing_is_started(
    invoke: Invoke, user_app: daytwo.App, tmp_path: Path
) -> None:
    user_app.store  # noqa: B018
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"name": "Ada"}\n{"name": \n')
    _error(invoke("instance", "start-many", "greet", str(broken), "--app", APP), 2,
           "broken.jsonl:2: not valid JSON", "nothing was started")  # fmt: skip
    _error(invoke("instance", "start-many", "greet", str(tmp_path / "missing.jsonl")), 2,
           "cannot read", "JSON Lines")  # fmt: skip
    no_key = _lines(tmp_path / "no-key.jsonl", {"name": "Ada"}, {"nom": "Bob"})
    _error(invoke("instance", "start-many", "greet", no_key, "--app", APP, "--id-key", "name"),
           2, "line 2: the input has no 'name'")  # fmt: skip
    wrong = _lines(tmp_path / "wrong.jsonl", {"name": "Ada"}, [1, 2])
    _error(invoke("instance", "start-many", "greet", wrong, "--app", APP), 2, "does not fit")
    _error(invoke("instance", "start-many", "nope", no_key), 2, "unknown workflow 'nope'")
    assert user_app.list() == []
