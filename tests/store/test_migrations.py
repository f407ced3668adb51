"""Migrations for many packages: the branch rule, and upgrades from every earlier revision.

The fixtures ``daytwo-REVISION-{sqlite,postgresql}.sql`` are dumps of databases written by
the daytwo at which REVISION was the newest revision it stamped
(``tests/fixtures/make_fixture.py``): restored and opened with the current code, each must
come out at the head of every branch with its rows intact, and its waiting instances must
finish.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from _postgres import client_program, new_database

import daytwo
from daytwo.store import _branches, _migrate
from daytwo.store._branches import CORE_BRANCH, Branch, branch_rule_problems, branches
from daytwo.store._database import SchemaTooNew
from daytwo.store._migrate import (
    database_revisions,
    forget_scripts,
    head_revisions,
    known_revisions,
)

FIXTURES = Path(__file__).parents[1] / "fixtures"
#: Every stamp a database of an earlier daytwo can have, each with a fixture per backend:
#: each core revision that was the newest in some commit, then the first with branches.
REVISIONS = ["0001", "0002", "0003", "0004", "0005", "0006", "0007", "slo_0001"]
#: The tables whose rows an upgrade must leave as they were (columns it adds aside).
KEPT = ("instances", "history", "transitions", "signals", "human_tasks")


# -- the branch rule ----------------------------------------------------------------------


def test_the_migration_scripts_keep_the_branch_rule() -> None:
    found = branches()
    assert [b.label for b in found][:1] == [CORE_BRANCH]
    assert "slo" in [b.label for b in found]
    assert branch_rule_problems(found) == []


def test_no_two_revision_ids_collide_across_branches() -> None:
    ids = [
        _branches._header(path).revision
        for branch in branches()
        for path in branch.directory.glob("*.py")
    ]
    assert len(ids) == len(set(ids)) == len(known_revisions())


def test_every_branch_has_its_label_and_one_head() -> None:
    scripts = _migrate._scripts()
    for branch in branches():
        heads = [
            head
            for head in head_revisions()
            if Path(scripts.get_revision(head).path).parent == branch.directory
        ]
        assert len(heads) == 1, (branch.label, heads)
        [script] = scripts.get_revisions(f"{branch.label}@head")
        assert script.revision == heads[0]
        if branch.label != CORE_BRANCH:
            assert heads[0].startswith(f"{branch.label}_")


def _script(revision: str, down: str | None, labels: str = "None", depends: str = "None") -> str:
    return (
        f"revision = {revision!r}\ndown_revision = {down!r}\nbranch_labels = {labels}\n"
        f"depends_on = {depends}\n\ndef upgrade() -> None:\n    pass\n"
    )


@pytest.mark.parametrize(
    ("scripts", "problem"),
    [
        ({"a.py": _script("0003", None, "('acme',)", "'0007'")}, "revision id '0003' in both"),
        ({"a.py": _script("slo_0009", None, "('acme',)", "'0007'")}, "are acme_NNNN"),
        ({"a.py": _script("acme_0001", None, "None", "'0007'")}, "branch_labels = ('acme',)"),
        ({"a.py": _script("acme_0001", None, "('acme',)")}, "depends_on the core revision"),
        ({"a.py": _script("acme_0001", "0007", "('acme',)")}, "is not a revision of branch"),
        ({"a.py": _script("acme_0001", None, "('acme',)", "'9999'")}, "no known revision id"),
        (
            {
                "a.py": _script("acme_0001", None, "('acme',)", "'0007'"),
                "b.py": _script("acme_0002", "acme_0001", "('acme',)"),
            },
            "only a branch's first revision carries its label",
        ),
    ],
    ids=["collision", "prefix", "label", "no-dependency", "cross-down", "unknown", "late-label"],
)
def test_a_script_that_breaks_the_rule_is_named(
    tmp_path: Path, scripts: dict[str, str], problem: str
) -> None:
    for name, text in scripts.items():
        (tmp_path / name).write_text(text)
    core = branches()[0]
    problems = branch_rule_problems((core, Branch("acme", tmp_path, "test")))
    assert any(problem in p for p in problems), problems


# -- packages installed separately ----------------------------------------------------------

TICKETS = '''"""acme tickets"""
import sqlalchemy as sa
from alembic import op

revision = "acme_0001"
down_revision = None
branch_labels = ("acme",)
depends_on = "0007"


def upgrade() -> None:
    op.create_table("acme_tickets", sa.Column("id", sa.Integer, primary_key=True))


def downgrade() -> None:
    op.drop_table("acme_tickets")
'''


@contextmanager
def installed_package(site: Path) -> Iterator[None]:
    """A package ``acme_ops`` with a migration branch, installed in ``site`` (a real
    distribution with an entry point), for the duration of the block."""
    package = site / "acme_ops"
    (package / "migrations").mkdir(parents=True)
    # Importing the package would be a bug: opening a database never imports packages.
    (package / "__init__.py").write_text("raise ImportError('acme_ops was imported')\n")
    (package / "migrations" / "acme_0001_tickets.py").write_text(TICKETS)
    dist = site / "acme_ops-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-ops\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[daytwo.migrations]\nacme = acme_ops.migrations\n")
    sys.path.insert(0, str(site))
    forget_scripts()
    try:
        yield
    finally:
        sys.path.remove(str(site))
        forget_scripts()


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(sa.make_url(url).set(drivername=_driver(url)))
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _driver(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgresql+psycopg"


def test_an_installed_package_gets_its_branch_in_every_database(
    db_url: str, tmp_path: Path
) -> None:
    app = daytwo.App(db_url)
    app.list()  # a current database, without the package's branch
    app.close()
    with installed_package(tmp_path / "site"):
        assert "acme_0001" in head_revisions()
        client = daytwo.App(db_url, create=False)
        client.list()  # a client without workflow code upgrades it: only acme is behind
        assert database_revisions(client.store.engine) == head_revisions()
        client.close()
        assert "acme_tickets" in _tables(db_url)
        assert "acme_ops" not in sys.modules
    # Without the package, its revision is unknown here: refused, and the message says why.
    with pytest.raises(SchemaTooNew, match=r"package\(s\) acme .*'acme_0001'.*not installed"):
        daytwo.App(db_url).list()


def test_a_newer_revision_of_a_known_branch_is_a_newer_daytwo(db_url: str) -> None:
    app = daytwo.App(db_url)
    app.list()
    with app.store.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM alembic_version")
        conn.exec_driver_sql("INSERT INTO alembic_version (version_num) VALUES ('slo_0099')")
    app.close()
    with pytest.raises(
        SchemaTooNew,
        match=r"newer daytwo .*'slo_0099'.*up to \d{4}, api_\d{4}, incidents_\d{4}, slo_",
    ):
        daytwo.App(db_url).list()


def test_opening_a_database_imports_no_operations_package(db_url: str) -> None:
    code = (
        "import sys; from daytwo.store._database import open_engine; "
        "open_engine(sys.argv[1]).dispose(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('pydantic', 'prometheus_client') or m.startswith('daytwo.slo')))"
    )
    opened = subprocess.run(
        [sys.executable, "-c", code, db_url], capture_output=True, text=True, check=True
    )
    assert opened.stdout.strip() == "[]", opened.stdout


# -- upgrades from every earlier revision ---------------------------------------------------


@pytest.fixture
def empty_database(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A new, empty database (on PostgreSQL not a copy of the migrated template)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    server: str = request.getfixturevalue("postgres_server")
    with new_database(server, "old") as url:
        yield url


def _restore(dump: Path, url: str) -> None:
    if url.startswith("sqlite"):
        with sqlite3.connect(sa.make_url(url).database or "") as conn:
            conn.executescript(dump.read_text())
        return
    subprocess.run(
        [client_program("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", str(dump)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip


def _rows(url: str) -> dict[str, list[dict[str, Any]]]:
    engine = sa.create_engine(sa.make_url(url).set(drivername=_driver(url)))
    try:
        found = {}
        with engine.connect() as conn:
            reflected = sa.MetaData()
            reflected.reflect(conn, only=[t for t in KEPT if sa.inspect(conn).has_table(t)])
            for name, table in reflected.tables.items():
                rows = [dict(row._mapping) for row in conn.execute(sa.select(table))]
                found[name] = sorted(rows, key=repr)
        return found
    finally:
        engine.dispose()


def _stamp(url: str) -> set[str]:
    engine = sa.create_engine(sa.make_url(url).set(drivername=_driver(url)))
    try:
        with engine.connect() as conn:
            return set(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars())
    finally:
        engine.dispose()


def _current_app(url: str) -> daytwo.App:
    """The fixtures' workflows (tests/fixtures/make_fixture.py), as the current code."""
    app = daytwo.App(url)

    @app.step
    def reserve(x: str) -> str:
        return f"r-{x}"

    @app.workflow(name="order", version="1")
    def order(ctx: daytwo.Context, x: str) -> dict[str, Any]:
        return {"r": reserve(x), "approval": ctx.wait_for_signal("approval")}

    @app.workflow(name="review", version="1")
    def review(ctx: daytwo.Context, doc: str) -> dict[str, Any]:
        return {"doc": doc, "verdict": ctx.human_task("review", assignee="ada")}

    return app


@pytest.mark.parametrize("revision", REVISIONS)
def test_a_database_of_each_earlier_revision_is_upgraded_with_its_rows_intact(
    revision: str, backend: str, empty_database: str
) -> None:
    url = empty_database
    _restore(FIXTURES / f"daytwo-{revision}-{backend}.sql", url)
    assert _stamp(url) == {revision}
    before = _rows(url)
    app = _current_app(url)
    try:
        assert database_revisions(app.store.engine) == head_revisions()
        after = _rows(url)
        for table, rows in before.items():
            columns = list(rows[0]) if rows else []
            kept = [{column: row[column] for column in columns} for row in after[table]]
            assert kept == rows, table
        assert app.result("done-1") == {"r": "r-d", "approval": "ok"}
        assert [(e.kind, e.name) for e in app.history("waiting-1")] == [("step", "reserve")]
        [task] = app.tasks.list()
        assert (task.instance_id, task.assignee) == ("task-1", "ada")
        # The waiting instances resume on a worker of the current code, and new ones run.
        app.signal("waiting-1", "approval", "yes")
        app.tasks.complete(task.id, "lgtm", by="ada")
        app.start("order", "n", id="new-1")
        app.signal("new-1", "approval", "fine")
        with app.worker(concurrency=2, poll_interval=0.05):
            assert app.result("waiting-1", timeout=30) == {"r": "r-w", "approval": "yes"}
            assert app.result("task-1", timeout=30) == {"doc": "spec", "verdict": "lgtm"}
            assert app.result("new-1", timeout=30) == {"r": "r-n", "approval": "fine"}
    finally:
        app.close()
