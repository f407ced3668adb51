"""Shared fixtures: a fresh database per test on every backend, apps with a fake or real clock.

Every test that uses ``db_url`` (directly or through ``app``/``fake_app``) runs once on
SQLite and once on PostgreSQL. The PostgreSQL server is a throwaway cluster that
``scripts/postgres`` installs (from the distribution's packages, when missing) and starts
for the session, then stops; ``$DAYTWO_TEST_POSTGRES`` points the tests at a running server
instead. ``--backend sqlite`` (or ``postgresql``) runs one backend only; a test marked
``@pytest.mark.backends("sqlite")`` is about one backend's mechanics.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from _shop import register_shop

import daytwo

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ("sqlite", "postgresql")
#: Read at import: some tests point ``tempfile`` at their private directory.
SYSTEM_TMP = tempfile.gettempdir()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backend",
        action="append",
        choices=BACKENDS,
        help="run the tests on this backend only (repeatable; default: all)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "backends(*names): run this test only on the named database backends"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" not in metafunc.fixturenames:
        return
    chosen = metafunc.config.getoption("--backend") or list(BACKENDS)
    marker = metafunc.definition.get_closest_marker("backends")
    allowed = marker.args if marker else BACKENDS
    metafunc.parametrize("backend", [b for b in chosen if b in allowed])


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of the session's PostgreSQL server (its ``postgres`` database)."""
    existing = os.environ.get("DAYTWO_TEST_POSTGRES")
    if existing:
        yield existing
        return
    # Not under pytest's private temporary directory: as root, the server runs as the
    # postgres user, which must be able to reach its data directory.
    directory = Path(tempfile.mkdtemp(prefix="daytwo-test-postgres-", dir=SYSTEM_TMP))
    directory.chmod(0o755)
    script = str(ROOT / "scripts" / "postgres")
    started = subprocess.run(
        [script, "start", str(directory), "--fast"], capture_output=True, text=True, check=False
    )
    if started.returncode != 0:
        pytest.exit(f"could not start PostgreSQL for the tests: {started.stderr}", returncode=3)
    guard = _stop_when_gone(script, directory)
    try:
        yield started.stdout.strip()
    finally:
        subprocess.run([script, "stop", str(directory)], check=False)
        shutil.rmtree(directory, ignore_errors=True)
        assert guard.stdin is not None
        guard.stdin.close()
        guard.wait(timeout=60)


def _stop_when_gone(script: str, directory: Path) -> subprocess.Popen[bytes]:
    """A process of its own session that stops the server once this one is gone.

    It waits for the end of a pipe that only this process holds, which comes however this
    process ends: SIGTERM or even SIGKILL, which run no teardown, leave no server behind.
    """
    code = (
        "import shutil, subprocess, sys; sys.stdin.buffer.read(); "
        "subprocess.run([sys.argv[1], 'stop', sys.argv[2]], check=False); "
        "shutil.rmtree(sys.argv[2], ignore_errors=True)"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, script, str(directory)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


@pytest.fixture(scope="session")
def postgres_template(postgres_server: str) -> str:
    """A database migrated once, copied for each test (much faster than migrating each)."""
    name = f"daytwo_template_{uuid.uuid4().hex[:8]}"
    _admin(postgres_server, f"CREATE DATABASE {name}")
    daytwo.App(_database_url(postgres_server, name)).close()
    return name


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend this test runs on (parametrized)."""
    return str(request.param)


@pytest.fixture
def db_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty database for this test on ``backend``."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'daytwo.db'}"
        return
    server: str = request.getfixturevalue("postgres_server")
    template: str = request.getfixturevalue("postgres_template")
    name = f"test_{uuid.uuid4().hex[:12]}"
    _admin(server, f"CREATE DATABASE {name} TEMPLATE {template}")
    yield _database_url(server, name)
    _admin(server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _database_url(server: str, name: str) -> str:
    return sa.make_url(server).set(database=name).render_as_string(hide_password=False)


def _admin(server: str, sql: str) -> None:
    engine = sa.create_engine(
        sa.make_url(server).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT"
    )
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(sql)
    finally:
        engine.dispose()


@pytest.fixture
def clock() -> daytwo.FakeClock:
    """A clock that only moves when the test advances it."""
    return daytwo.FakeClock()


@pytest.fixture
def app(db_url: str) -> Iterator[daytwo.App]:
    """An app on a fresh database with the real clock."""
    application = daytwo.App(db_url)
    yield application
    application.close()


@pytest.fixture
def fake_app(db_url: str, clock: daytwo.FakeClock) -> Iterator[daytwo.App]:
    """An app on a fresh database with a fake clock."""
    application = daytwo.App(db_url, clock=clock)
    yield application
    application.close()


@pytest.fixture
def shop(fake_app: daytwo.App) -> daytwo.App:
    """The fake-clock app with the order shop of the SLO tests registered (``_shop.py``)."""
    return register_shop(fake_app)
