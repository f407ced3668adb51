"""Shared fixtures: a fresh database per test on every backend, apps with a fake or real clock.

Every test that uses ``db_url`` (directly or through ``app``/``fake_app``) runs once on
SQLite and once on PostgreSQL. The PostgreSQL server is a throwaway cluster that
``scripts/postgres`` installs (from the distribution's packages, when missing) and starts
for the session, then stops; ``$DAYTWO_TEST_POSTGRES`` points the tests at a running server
instead. ``--backend sqlite`` (or ``postgresql``) runs one backend only; a test marked
``@pytest.mark.backends("sqlite")`` is about one backend's mechanics.

In parallel (pytest-xdist, ``-n 2``: what ``scripts/test`` runs) the controller process
starts the one PostgreSQL cluster before it starts the workers, hands its URL to each of them
and stops it at the end; each worker migrates a template database of its own (a unique
name) and copies it per test. ``_parallel.py`` says which tests go to one worker and which
are handed out first.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
import typer.main
import typer.testing
from _parallel import make_scheduler, slow_first
from _postgres import admin, database_url, new_database, private_cluster
from _shop import register_shop

import daytwo

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ("sqlite", "postgresql")
#: Where the xdist controller puts the shared server's URL for the workers.
_WORKER_SERVER = "daytwo_test_postgres"
_SHARED_SERVER = pytest.StashKey[str]()

# Typer's test runner builds the whole click command tree again at every invoke (a fifth of
# a second for daytwo's, most of a CLI test's time). The tree is the same every time: the
# Typer app is built at import and the plugin groups are resolved lazily at each run.
_COMMANDS: dict[int, tuple[typer.Typer, Any]] = {}


def _built_once(app: typer.Typer) -> Any:
    if id(app) not in _COMMANDS:
        _COMMANDS[id(app)] = (app, typer.main.get_command(app))  # the app pins its id
    return _COMMANDS[id(app)][1]


typer.testing._get_command = _built_once  # type: ignore[attr-defined,assignment]

# $DAYTWO_DATABASE beats the URL an App is given in code, so a developer's shell setting
# would point every test at that database: the tests never see it (subprocesses neither,
# unless a test passes one).
os.environ.pop("DAYTWO_DATABASE", None)


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
    if _is_xdist_controller(config) and "postgresql" in _chosen_backends(config):
        _start_shared_server(config)


def _chosen_backends(config: pytest.Config) -> list[str]:
    return list(config.getoption("--backend") or BACKENDS)


def _is_xdist_controller(config: pytest.Config) -> bool:
    """Whether this process hands tests to xdist workers (``-n N``, N > 0)."""
    return not hasattr(config, "workerinput") and bool(getattr(config.option, "numprocesses", 0))


def _start_shared_server(config: pytest.Config) -> None:
    """One cluster for all workers, owned by the controller: started once (no race between
    workers starting their own), stopped when the controller ends, however it ends."""
    if os.environ.get("DAYTWO_TEST_POSTGRES") or config.option.collectonly:
        return
    stack = contextlib.ExitStack()
    try:
        server, _directory = stack.enter_context(private_cluster("daytwo-test-postgres-"))
    except RuntimeError as exc:
        pytest.exit(f"could not start PostgreSQL for the tests: {exc}", returncode=3)
    config.add_cleanup(stack.close)
    config.stash[_SHARED_SERVER] = server


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:  # xdist's WorkerController: untyped
    """(xdist, in the controller) Give each worker the shared server's URL."""
    server = node.config.stash.get(_SHARED_SERVER, None)
    if server is not None:
        node.workerinput[_WORKER_SERVER] = server


@pytest.hookimpl(optionalhook=True, tryfirst=True)  # before xdist's own scheduler
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """(xdist, in the controller) ``--dist loadgroup`` with the module groups of
    ``_parallel.SERIAL_MODULES``."""
    if config.getvalue("dist") != "loadgroup":
        return None
    return make_scheduler(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if hasattr(config, "workerinput"):  # each xdist worker sorts its collection alike
        slow_first(items, ROOT / "tests")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" not in metafunc.fixturenames:
        return
    chosen = metafunc.config.getoption("--backend") or list(BACKENDS)
    marker = metafunc.definition.get_closest_marker("backends")
    allowed = marker.args if marker else BACKENDS
    # The heaviest tests run on SQLite by default and on PostgreSQL in the soak run, so the
    # default run stays within CI's time (tests/test_bench_*: the same split by size).
    soak_pg = metafunc.definition.get_closest_marker("soak_on_postgresql") is not None
    metafunc.parametrize(
        "backend",
        [
            pytest.param(b, marks=pytest.mark.soak) if soak_pg and b == "postgresql" else b
            for b in chosen
            if b in allowed
        ],
    )


@pytest.fixture(scope="session")
def postgres_server(request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of the session's PostgreSQL server (its ``postgres`` database)."""
    workerinput: dict[str, Any] = getattr(request.config, "workerinput", {})
    existing = os.environ.get("DAYTWO_TEST_POSTGRES") or workerinput.get(_WORKER_SERVER)
    if existing:
        yield existing
        return
    with contextlib.ExitStack() as stack:
        try:
            server, _directory = stack.enter_context(private_cluster("daytwo-test-postgres-"))
        except RuntimeError as exc:
            pytest.exit(f"could not start PostgreSQL for the tests: {exc}", returncode=3)
        yield server


@pytest.fixture(scope="session")
def postgres_template(postgres_server: str) -> str:
    """A database migrated once, copied for each test (much faster than migrating each)."""
    name = f"daytwo_template_{uuid.uuid4().hex[:8]}"
    admin(postgres_server, f"CREATE DATABASE {name}")
    template = daytwo.App(database_url(postgres_server, name))
    template.list(limit=1)  # opening the database creates daytwo's tables
    template.close()
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
    with new_database(server, "test", template) as url:
        yield url


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
