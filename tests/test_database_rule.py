"""One rule for which database (issue 9 item 22): ``--database`` > ``$DAYTWO_DATABASE`` >
the URL given in code to ``App(url)`` > ``sqlite:///daytwo.db``, the same for Python and for
every command; a relative SQLite path in code is relative to the module's file."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from _cli import clean_cli_environment  # noqa: F401 -- an autouse fixture, active once imported
from typer.testing import CliRunner, Result

import daytwo
from daytwo.cli._main import app as cli

MODULE = """\
import daytwo

app = daytwo.App({url!r})


@app.workflow(name="greet")
def greet(ctx: daytwo.Context, name: str) -> str:
    return f"hello {{name}}"
"""


def write_module(directory: Path, url: str) -> Path:
    """A workflow module whose App is given ``url`` in code (a fresh module name each time,
    so that no test sees another's import)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"shop_{uuid.uuid4().hex[:8]}.py"
    path.write_text(MODULE.format(url=url))
    return path


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env or {})


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result


def test_environment_beats_the_url_in_code_and_the_command_line_beats_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, env, cli_url = (
        f"sqlite:///{tmp_path / name}" for name in ("code.db", "env.db", "cli.db")
    )
    assert daytwo.App(code).database_url == code
    monkeypatch.setenv("DAYTWO_DATABASE", env)
    assert daytwo.App(code).database_url == env
    module = write_module(tmp_path / "project", code)
    started = ok(invoke("start", "greet", '"Ada"', "--app", f"{module}:app", "--database", cli_url))
    assert str(tmp_path / "cli.db") in started.stderr
    assert not (tmp_path / "code.db").exists() and not (tmp_path / "env.db").exists()


def test_a_relative_path_in_code_is_the_same_file_from_any_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    module = write_module(project, "sqlite:///orders.db")
    spec = f"{module}:app"
    monkeypatch.chdir(tmp_path)
    started = ok(invoke("start", "greet", '"Ada"', "--app", spec, "--id", "g1"))
    assert f"in sqlite:///{project / 'orders.db'}" in started.stderr
    elsewhere = tmp_path / "somewhere" / "else"
    elsewhere.mkdir(parents=True)
    monkeypatch.chdir(elsewhere)
    listed = json.loads(ok(invoke("list", "--app", spec, "--json")).stdout)
    assert [i["id"] for i in listed] == ["g1"]
    # a worker started from yet another directory runs it
    run = subprocess.run(
        [sys.executable, "-c", f"import {module.stem} as m; print(m.app.database_url)"],
        cwd=tmp_path / "somewhere", env={"PYTHONPATH": str(project)}, capture_output=True,
        text=True, timeout=60, check=True,
    )  # fmt: skip
    assert run.stdout.strip() == f"sqlite:///{project / 'orders.db'}"
    assert not (tmp_path / "orders.db").exists() and not (elsewhere / "orders.db").exists()


def test_client_commands_use_the_url_of_the_app_they_are_given(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``App("sqlite:///orders.db")`` in code: ``daytwo list --app`` reads that database,
    not ./daytwo.db (the issue's report)."""
    module = write_module(tmp_path / "project", db_url)
    spec = f"{module}:app"
    ok(invoke("start", "greet", '"Ada"', "--app", spec, "--id", "g1"))
    here = tmp_path / "cwd"
    here.mkdir()
    monkeypatch.chdir(here)
    for args in (["list", "--json"], ["status", "g1", "--json"], ["history", "g1", "--json"]):
        result = ok(invoke(*args, "--app", spec))
        assert "g1" in result.stdout
        by_environment = ok(invoke(*args, env={"DAYTWO_APP": spec}))
        assert by_environment.stdout == result.stdout
    assert list(here.iterdir()) == []  # no ./daytwo.db


def test_a_relative_path_on_the_command_line_is_relative_to_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = write_module(tmp_path / "project", "sqlite:///orders.db")
    monkeypatch.chdir(tmp_path)
    spec = f"{module}:app"
    ok(invoke("start", "greet", '"Ada"', "--app", spec, "--database", "sqlite:///here.db"))
    assert (tmp_path / "here.db").exists()
    assert len(json.loads(ok(invoke("list", "--json", "--database", "sqlite:///here.db")).stdout))
    monkeypatch.setenv("DAYTWO_DATABASE", "sqlite:///env.db")
    assert daytwo.App("sqlite:///code.db").database_url == f"sqlite:///{tmp_path / 'env.db'}"
    monkeypatch.delenv("DAYTWO_DATABASE")
    assert daytwo.App().database_url == f"sqlite:///{tmp_path / 'daytwo.db'}"


def test_the_database_of_an_app_cannot_change_once_opened(db_url: str, tmp_path: Path) -> None:
    app = daytwo.App(db_url)
    app.list()
    with pytest.raises(daytwo.InvalidInput, match="set database_url before the App is first"):
        app.database_url = f"sqlite:///{tmp_path / 'other.db'}"
    app.close()
