"""PostgreSQL-only behaviour: connection errors, concurrent claims and migrations, and
workers that ride out a server restart.

Everything else runs on PostgreSQL through the ``db_url`` fixture like on SQLite.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from _harness import (
    check_saga_instances,
    finished_count,
    free_port,
    run_to_completion,
    saga_id,
    wait_until,
    worker_pool,
)
from _postgres import SCRIPT, admin, database_url, new_database, private_cluster
from typer.testing import CliRunner
from workloads.crash_app import STEP_SECONDS_ENV, TIMER_SECONDS_ENV, build_app

import daytwo
from daytwo.cli._main import app as cli
from daytwo.store._migrate import database_revisions, head_revisions


@pytest.fixture
def server(request: pytest.FixtureRequest) -> str:
    """The session's PostgreSQL server, unless the run is restricted to other backends."""
    chosen = request.config.getoption("--backend")
    if chosen and "postgresql" not in chosen:
        pytest.skip("PostgreSQL is not among the selected backends")
    return str(request.getfixturevalue("postgres_server"))


@pytest.fixture
def empty_database(server: str) -> Iterator[str]:
    """A new database with no tables at all."""
    with new_database(server, "empty") as url:
        yield url


def _with(server: str, **parts: object) -> str:
    return sa.make_url(server).set(**parts).render_as_string(hide_password=False)  # type: ignore[arg-type]


def test_wrong_password_names_the_fix(server: str) -> None:
    url = _with(server, username="daytwo_password", password="wrong")
    with pytest.raises(daytwo.StoreUnavailable, match="check the user name and password"):
        daytwo.App(url).list()


def test_missing_database_names_the_fix(server: str) -> None:
    url = _with(server, database="no_such_database")
    with pytest.raises(daytwo.StoreUnavailable, match=r"does not exist.*createdb"):
        daytwo.App(url).list()


def test_unreachable_server_names_the_fix(server: str) -> None:
    url = _with(server, port=free_port())
    with pytest.raises(daytwo.StoreUnavailable, match="check that the server is running"):
        daytwo.App(url).list()


def test_the_right_password_works(server: str, empty_database: str) -> None:
    url = sa.make_url(empty_database).set(username="daytwo_password", password="secret")
    # PostgreSQL 15 lets only the database owner create tables in the public schema.
    with pytest.raises(daytwo.StoreUnavailable, match=r"permission denied.*GRANT CREATE"):
        daytwo.App(url.render_as_string(hide_password=False)).list()
    admin(server, f"ALTER DATABASE {url.database} OWNER TO daytwo_password")
    admin(
        database_url(server, str(url.database)),
        "ALTER SCHEMA public OWNER TO daytwo_password",
    )
    app = daytwo.App(url.render_as_string(hide_password=False))
    assert app.list() == []
    app.close()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql+asyncpg://u@localhost/db", "unsupported PostgreSQL driver"),
        ("postgresql://u@localhost", "no database name"),
    ],
)
def test_bad_postgres_urls_are_refused_with_the_fix(url: str, message: str) -> None:
    with pytest.raises(daytwo.StoreUnavailable, match=message):
        daytwo.App(url).list()


def test_cli_shows_a_connection_error_on_one_line_with_exit_4(server: str) -> None:
    url = _with(server, username="daytwo_password", password="wrong")
    result = CliRunner().invoke(cli, ["list", "--database", url])
    assert result.exit_code == 4
    assert result.stderr.count("\n") == 1 and "password" in result.stderr
    assert "wrong" not in result.stderr, "the password must not be echoed"


def test_many_processes_opening_a_new_database_migrate_once(empty_database: str) -> None:
    code = "import daytwo, sys; app = daytwo.App(sys.argv[1]); print(len(app.list()))"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", code, empty_database], stdout=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=60)[0].strip() for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0, 0]
    assert outputs == ["0"] * 4
    engine = sa.create_engine(sa.make_url(empty_database).set(drivername="postgresql+psycopg"))
    assert database_revisions(engine) == head_revisions()
    engine.dispose()


@pytest.mark.backends("postgresql")
def test_concurrent_claims_never_hand_out_one_instance_twice(db_url: str) -> None:
    """Eight threads claim from one backlog at once; SKIP LOCKED keeps their sets disjoint."""
    app = daytwo.App(db_url)

    @app.workflow(name="noop")
    def noop(ctx: daytwo.Context, x: int) -> int:
        return x

    for n in range(400):
        app.start(noop, n, id=f"c-{n:03d}")
    claimed: list[list[str]] = [[] for _ in range(8)]
    barrier = threading.Barrier(8)

    def claimer(index: int) -> None:
        barrier.wait()
        while True:
            rows = app.store.claim(
                f"owner-{index}", [("noop", "1")], now=time.time(), lease_seconds=60, limit=7
            )
            if not rows:
                return
            claimed[index].extend(row["id"] for row in rows)

    threads = [threading.Thread(target=claimer, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [instance_id for ids in claimed for instance_id in ids]
    assert len(everything) == 400 and len(set(everything)) == 400
    assert sum(1 for ids in claimed if ids) > 1, "one thread claimed everything"
    app.close()


def test_workers_recover_by_themselves_when_the_server_restarts(tmp_path: Path) -> None:
    """A private server is restarted twice in the middle of a run; every instance completes
    exactly as designed and no step output is recorded twice."""
    with private_cluster("daytwo-restart-") as (server, directory):
        admin(server, "CREATE DATABASE restart")
        database = database_url(server, "restart")
        log_path = tmp_path / "side-effects.log"
        app = build_app(database, str(log_path))
        numbers = range(200)
        for n in numbers:
            app.start("saga", n, id=saga_id(n))
        env = {STEP_SECONDS_ENV: "0.02", TIMER_SECONDS_ENV: "0.2"}

        with worker_pool(database, log_path, tmp_path) as pool:
            workers = [pool.spawn(concurrency=8, lease_seconds=3.0, env=env) for _ in range(2)]
            for threshold in (40, 120):

                def reached(t: int = threshold) -> bool:
                    return finished_count(app) >= t

                wait_until(reached, timeout=120, what=f"{threshold}")
                subprocess.run([SCRIPT, "restart", str(directory)], check=True)
            everything = len(numbers)
            run_to_completion(pool, workers, lambda: finished_count(app) == everything, timeout=180)
        # A step whose result was being committed when the server went away runs again
        # (with the same idempotency key): the same allowance as for a killed worker.
        pids = [w.pid for w in workers]
        report = check_saga_instances(app, numbers, log_path, killed_pids=pids)
        assert report.succeeded + report.compensated == len(numbers)
        app.close()


@pytest.mark.backends("postgresql")
def test_workers_hear_about_work_from_other_processes_without_polling(db_url: str) -> None:
    """A worker that polls only every minute still picks up a start and a signal made by
    another client at once: LISTEN/NOTIFY wakes it."""
    worker_app = daytwo.App(db_url)
    client = daytwo.App(db_url)  # another client: its calls do not wake the worker in-process
    for application in (worker_app, client):

        @application.workflow(name="approve")
        def approve(ctx: daytwo.Context, n: int) -> str:
            return str(ctx.wait_for_signal("decision"))

    with worker_app.worker(concurrency=2, poll_interval=60.0) as worker:
        wait_until(lambda: worker._listener is not None and worker._listener.connected,
                   timeout=10, what="the listener")  # fmt: skip
        client.start("approve", 1, id="a1")
        wait_until(lambda: client.get("a1").status == "WAITING", timeout=10, what="the start")
        client.signal("a1", "decision", "yes")
        assert client.result("a1", timeout=10) == "yes"
    worker_app.close()
    client.close()


@pytest.mark.backends("postgresql")
def test_sessions_end_a_transaction_left_idle_by_a_stalled_process(app: daytwo.App) -> None:
    with app.store.read() as conn:
        timeout = conn.exec_driver_sql("SHOW idle_in_transaction_session_timeout").scalar()
    assert timeout == "15s"
