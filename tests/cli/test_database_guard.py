"""Which commands may create daytwo's tables, and which databases daytwo leaves alone.

Issue 9: read-only commands must not turn another database into a daytwo one (item 10), a
database of a newer daytwo is refused in one line (item 9), and creating the tables logs
one line of daytwo's, not Alembic's INFO chatter (item 24).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from _cli import clean_cli_environment  # noqa: F401 -- an autouse fixture, active once imported
from _postgres import new_database
from typer.testing import CliRunner, Result

import daytwo
from daytwo.cli._main import app as cli
from daytwo.store import _database
from daytwo.store._migrate import database_revisions, head_revisions, shown_revisions

APP = "cli_app:app"
FIXTURES = Path(__file__).parents[1] / "fixtures"

#: Commands that only read or act on an existing daytwo database, with their exit code
#: when there is none (looking up an id in no database is "not found").
CLIENT_COMMANDS = [
    (["list"], 4),
    (["list", "--app", APP], 4),
    (["status", "x"], 3),
    (["history", "x"], 3),
    (["tasks", "list"], 4),
    (["queues", "list"], 4),
    (["queues", "set", "q", "--concurrency", "1"], 4),
    (["pause", "greet"], 4),
    (["pauses"], 4),
    (["dependencies", "list"], 4),
    (["slo", "alerts"], 4),
]
CLIENT_IDS = [" ".join(args) for args, _ in CLIENT_COMMANDS]


@pytest.fixture
def empty_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A database without any table (SQLite: an empty file)."""
    if backend == "sqlite":
        path = tmp_path / "empty.db"
        path.touch()
        yield f"sqlite:///{path}"
        return
    server: str = request.getfixturevalue("postgres_server")
    with new_database(server, "empty") as url:
        yield url


def _engine(url: str) -> sa.Engine:
    """A plain engine, none of daytwo's settings or checks."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return sa.create_engine(parsed, poolclass=sa.pool.NullPool)


def execute(url: str, *statements: str) -> None:
    engine = _engine(url)
    with engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)
    engine.dispose()


def contents(url: str) -> dict[str, Any]:
    """Every table with its rows, and for SQLite the file's bytes: what must not change."""
    engine = _engine(url)
    with engine.connect() as conn:
        names = sorted(sa.inspect(conn).get_table_names())
        found: dict[str, Any] = {
            name: sorted(map(repr, conn.exec_driver_sql(f"SELECT * FROM {name}"))) for name in names
        }
    engine.dispose()
    database = sa.make_url(url).database
    if url.startswith("sqlite") and database:
        found["file"] = hashlib.sha256(Path(database).read_bytes()).hexdigest()
    return found


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env={})


def assert_one_line(result: Result, code: int, *fragments: str) -> None:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("error: ")
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)
    assert "Traceback" not in result.output


@pytest.mark.parametrize(("args", "code"), CLIENT_COMMANDS, ids=CLIENT_IDS)
def test_client_commands_refuse_an_empty_database_and_create_nothing(
    empty_url: str, args: list[str], code: int
) -> None:
    before = contents(empty_url)
    result = invoke(*args, "--database", empty_url)
    assert_one_line(result, code, "no daytwo database at", "start an instance or run a worker")
    assert contents(empty_url) == before == ({"file": before["file"]} if "file" in before else {})


def test_start_creates_the_database(empty_url: str) -> None:
    result = invoke("start", "greet", '{"name": "Ada"}', "--app", APP, "--database", empty_url)
    assert result.exit_code == 0, result.stderr
    engine = _engine(empty_url)
    assert database_revisions(engine) == head_revisions()
    engine.dispose()
    assert [i["id"] for i in _listed(empty_url)] == [result.stdout.strip()]


def _listed(url: str) -> list[dict[str, Any]]:
    import json

    result = invoke("list", "--json", "--database", url)
    assert result.exit_code == 0, result.stderr
    listed: list[dict[str, Any]] = json.loads(result.stdout)
    return listed


@pytest.mark.parametrize(
    ("args", "code"),
    [*CLIENT_COMMANDS, (["start", "greet", "{}", "--app", APP], 4)],
    ids=[*CLIENT_IDS, "start"],
)
def test_another_applications_database_is_refused_and_left_as_it_is(
    empty_url: str, args: list[str], code: int
) -> None:
    execute(
        empty_url,
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)",
        "INSERT INTO customers VALUES (1, 'Acme')",
    )
    before = contents(empty_url)
    result = invoke(*args, "--database", empty_url)
    assert_one_line(result, 4 if code == 3 else code, "is not a daytwo database", "customers")
    assert contents(empty_url) == before


def test_user_code_and_workers_refuse_another_applications_database_too(empty_url: str) -> None:
    execute(empty_url, "CREATE TABLE history (id INTEGER PRIMARY KEY)")
    before = contents(empty_url)
    with pytest.raises(_database.NotADaytwoDatabase, match="is not a daytwo database"):
        daytwo.App(empty_url).list()
    assert_one_line(
        invoke("worker", APP, "--database", empty_url), 4, "is not a daytwo database", "history"
    )
    assert contents(empty_url) == before


def test_a_database_of_a_newer_daytwo_is_refused_in_one_line(empty_url: str) -> None:
    current = daytwo.App(empty_url)
    current.list()  # daytwo's tables, at the current revision
    current.close()
    # One row per branch tip: a newer daytwo's stamp replaces them all.
    execute(
        empty_url,
        "DELETE FROM alembic_version",
        "INSERT INTO alembic_version (version_num) VALUES ('0099')",
    )
    before = contents(empty_url)
    known = shown_revisions(head_revisions())
    expected = ("made by a newer daytwo", "'0099'", f"up to {known}", "upgrade daytwo")
    for args, _code in [*CLIENT_COMMANDS, (["start", "greet", "{}", "--app", APP], 4)]:
        assert_one_line(invoke(*args, "--database", empty_url), 4, *expected)
    assert_one_line(invoke("worker", APP, "--database", empty_url), 4, *expected)
    with pytest.raises(_database.SchemaTooNew) as raised:
        daytwo.App(empty_url).list()
    assert all(fragment in str(raised.value) for fragment in expected)
    assert contents(empty_url) == before


@pytest.mark.backends("sqlite")
def test_a_read_only_command_upgrades_an_older_daytwo_database_in_place(tmp_path: Path) -> None:
    """Deliberate (docs/architecture.md): any command may bring an older daytwo database to
    the current schema, so that a new client can read a database its workers have not
    opened yet."""
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.executescript((FIXTURES / "daytwo-0.1.0.sql").read_text())
    url = f"sqlite:///{path}"
    assert "waiting-1" in [i["id"] for i in _listed(url)]
    engine = _engine(url)
    assert database_revisions(engine) == head_revisions()
    engine.dispose()


def test_creating_the_tables_logs_one_line_and_no_alembic_chatter(
    empty_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    daytwo.App(empty_url).list()
    daytwo.App(empty_url).list()  # opening a current database logs nothing
    assert [r.name for r in caplog.records if r.name.startswith("alembic")] == []
    created = [r.getMessage() for r in caplog.records if r.name == "daytwo.store"]
    assert len(created) == 1 and created[0].startswith("created daytwo's tables"), created


def test_a_worker_process_starts_without_alembic_lines(empty_url: str, tmp_path: Path) -> None:
    """Alembic logs while being imported: the level must be set before that, in a fresh
    process like a real ``daytwo worker`` (in the test process Alembic is imported already)."""
    environment = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    environment.pop("DAYTWO_DATABASE", None)
    for _ in range(2):  # creating the tables, then opening the current database
        worker = subprocess.Popen(
            [sys.executable, "-m", "daytwo", "worker", APP, "--database", empty_url],
            cwd=tmp_path, env=environment, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert worker.stderr is not None
        lines = []
        for line in worker.stderr:
            lines.append(line)
            if "started (concurrency" in line:
                break
        worker.terminate()
        lines += worker.stderr.readlines()
        assert worker.wait(timeout=30) == 0, lines
        assert not [line for line in lines if "alembic" in line], lines


@pytest.mark.backends("sqlite")
def test_a_copy_of_a_daytwo_database_in_another_directory_opens(tmp_path: Path) -> None:
    """The read-only look at an existing file does not depend on where it was made."""
    first = tmp_path / "a" / "x.db"
    first.parent.mkdir()
    original = daytwo.App(f"sqlite:///{first}")
    original.list()
    original.close()  # the last connection checkpoints the WAL into the file
    copy = tmp_path / "b c#&" / "x.db"  # characters that mean something in a URI
    copy.parent.mkdir()
    shutil.copy(first, copy)
    assert daytwo.App(f"sqlite:///{copy}", create=False).list() == []
