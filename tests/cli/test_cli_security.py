"""What the command line shows and exposes: no password in any message or log line
(issue 9 item 4), /metrics on loopback unless told otherwise (item 5)."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest
import sqlalchemy as sa
from _cli import clean_cli_environment  # noqa: F401 -- an autouse fixture, active once imported
from typer.testing import CliRunner

from daytwo.cli._main import app as cli
from daytwo.store._database import display_url

TESTS_DIR = Path(__file__).resolve().parents[1]
DAYTWO = str(Path(sys.executable).with_name("daytwo"))
APP = "cli_app:app"
PASSWORD = "hunter2-Secret"


@pytest.fixture
def url_with_password(db_url: str) -> str:
    """The test's PostgreSQL database with a password in the URL (the test cluster trusts
    loopback connections, so the password is sent and ignored)."""
    return sa.make_url(db_url).set(password=PASSWORD).render_as_string(hide_password=False)


@contextmanager
def daytwo_process(*args: str, database: str) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """Run ``daytwo ARGS`` from the tests directory; yields the process and its stderr lines
    so far (a thread keeps reading); stops it with SIGTERM at the end."""
    env = {**os.environ, "DAYTWO_DATABASE": database, "PYTHONUNBUFFERED": "1", "COLUMNS": "300"}
    env.pop("DAYTWO_APP", None)
    process = subprocess.Popen(
        [DAYTWO, *args], cwd=TESTS_DIR, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: list[str] = []
    arrived: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line.rstrip("\n"))
            arrived.put(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        yield process, lines
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        reader.join(10)


def wait_for_line(lines: list[str], fragment: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in lines:
            if fragment in line:
                return line
        time.sleep(0.05)
    raise AssertionError(f"no line with {fragment!r} in {lines}")


def listening_addresses(pid: int) -> set[str]:
    return {
        connection.laddr.ip
        for connection in psutil.Process(pid).net_connections(kind="inet")
        if connection.status == psutil.CONN_LISTEN
    }


def test_display_url_hides_every_password() -> None:
    assert (
        display_url("postgresql://app:s3cret@db:5432/orders")
        == "postgresql://app:***@db:5432/orders"
    )
    assert display_url("postgresql://app:p@ss@db/orders") == "postgresql://app:***@db/orders"
    assert display_url("postgresql://db/orders?password=s3cret&x=1") == (
        "postgresql://db/orders?password=***&x=1"
    )
    assert (
        display_url("postgresql://app:s3cret@db:notaport/x") == "postgresql://app:***@db:notaport/x"
    )
    assert display_url("sqlite:////var/lib/daytwo.db") == "sqlite:////var/lib/daytwo.db"
    assert display_url("postgresql://app@db/orders") == "postgresql://app@db/orders"


@pytest.mark.backends("postgresql")
def test_start_up_messages_hide_the_database_password(url_with_password: str) -> None:
    shown = display_url(url_with_password)
    assert "***" in shown and PASSWORD not in shown
    runner = CliRunner()
    started = runner.invoke(
        cli, ["start", "greet", '{"name": "Ada"}', "--app", APP, "--database", url_with_password]
    )
    assert started.exit_code == 0, started.stderr
    assert PASSWORD not in started.output and f"in {shown}" in started.stderr
    listed = runner.invoke(cli, ["list", "--database", url_with_password], env={"COLUMNS": "300"})
    assert PASSWORD not in listed.output and shown in listed.stdout
    with daytwo_process("worker", APP, "--poll-interval", "0.05", database=url_with_password) as (
        worker,
        lines,
    ):
        wait_for_line(lines, "stop with Ctrl-C or SIGTERM")
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    assert any(shown in line for line in lines), lines
    assert not any(PASSWORD in line for line in lines), lines
    with daytwo_process("metrics", "serve", "--port", "0", database=url_with_password) as (_, out):
        wait_for_line(out, "serving http://")
    assert any(shown in line for line in out) and not any(PASSWORD in line for line in out)


@pytest.mark.backends("postgresql")
def test_demo_and_errors_hide_the_database_password(url_with_password: str) -> None:
    demo = CliRunner().invoke(
        cli, ["demo", "--json", "--orders", "1", "--database", url_with_password]
    )
    assert demo.exit_code == 0, demo.stderr
    assert PASSWORD not in demo.output
    assert json.loads(demo.stdout)["database"] == display_url(url_with_password)
    unsupported = url_with_password.replace("postgresql", "postgresql+asyncpg", 1)
    refused = CliRunner().invoke(cli, ["list", "--database", unsupported])
    assert refused.exit_code == 2 and PASSWORD not in refused.output


def test_metrics_serve_listens_on_loopback_unless_told_otherwise(db_url: str) -> None:
    CliRunner().invoke(cli, ["start", "greet", "{}", "--app", APP, "--database", db_url])
    with daytwo_process("metrics", "serve", "--port", "0", database=db_url) as (server, lines):
        line = wait_for_line(lines, "serving http://")
        assert line.startswith("serving http://127.0.0.1:")
        assert listening_addresses(server.pid) == {"127.0.0.1"}
    with daytwo_process(
        "metrics", "serve", "--port", "0", "--host", "0.0.0.0", database=db_url
    ) as (server, lines):
        wait_for_line(lines, "serving http://0.0.0.0:")
        assert listening_addresses(server.pid) == {"0.0.0.0"}


def test_worker_metrics_listen_on_loopback_unless_told_otherwise(db_url: str) -> None:
    with daytwo_process(
        "worker", APP, "--metrics-port", "0", "--poll-interval", "0.05", database=db_url
    ) as (worker, lines):
        wait_for_line(lines, "serving /metrics on")
        assert listening_addresses(worker.pid) == {"127.0.0.1"}
    assert any("/metrics on 127.0.0.1:0" in line for line in lines), lines
