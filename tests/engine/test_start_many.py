"""Batch starts and shared commits (issue 11, item 1): ``start_many`` stores many instances
in one commit, all or nothing, idempotent per id; concurrent ``start`` calls of one process
share commits, and one caller's refused start does not fail the others in its commit."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from _harness import wait_until

import daytwo
from daytwo import App


def _order(app: App) -> None:
    @app.step
    def double(x: int) -> int:
        return 2 * x

    @app.workflow(name="order")
    def order(ctx: daytwo.Context, x: int) -> int:
        return double(x)


def _count(app: App) -> int:
    with app.store.read() as conn:
        return int(conn.exec_driver_sql("SELECT count(*) FROM instances").scalar_one())


def test_start_many_stores_every_instance_in_one_commit_and_a_worker_runs_them(
    app: App,
) -> None:
    _order(app)
    commits = app.store._starts.commits
    handles = app.start_many("order", range(200))
    assert app.store._starts.commits == commits + 1
    assert len({h.id for h in handles}) == 200 and all(h.created for h in handles)
    with app.worker(concurrency=8) as worker:
        worker.drain()
    assert [h.result(timeout=30) for h in handles] == [2 * x for x in range(200)]
    assert app.transitions(handles[0].id)[0].to_state == "queued"


def test_start_many_is_idempotent_per_id(app: App) -> None:
    _order(app)
    first = app.start_many("order", [1, 2], ids=["a", "b"])
    again = app.start_many("order", [1, 2, 3], ids=["a", "b", "c"])
    assert [h.created for h in first] == [True, True]
    assert [(h.id, h.created) for h in again] == [("a", False), ("b", False), ("c", True)]
    assert _count(app) == 3
    assert app.start("order", 1, id="a").created is False


def test_a_conflicting_id_stores_none_of_the_batch(app: App) -> None:
    _order(app)
    app.start("order", 1, id="taken")
    with pytest.raises(daytwo.InstanceConflict, match="taken"):
        app.start_many("order", [5, 6, 7], ids=["new-1", "taken", "new-2"])
    assert _count(app) == 1
    with pytest.raises(daytwo.InstanceConflict, match="twice"):  # the same id twice, two inputs
        app.start_many("order", [5, 6], ids=["twice", "twice"])
    assert _count(app) == 1
    same = app.start_many("order", [5, 5], ids=["once", "once"])
    assert [h.created for h in same] == [True, False]


def test_bad_batches_are_refused_before_anything_is_stored(app: App) -> None:
    _order(app)
    with pytest.raises(daytwo.InvalidInput, match="expected an integer"):
        app.start_many("order", [1, "two", 3])
    with pytest.raises(daytwo.InvalidInput, match="3 inputs but 2 ids"):
        app.start_many("order", [1, 2, 3], ids=["a", "b"])
    with pytest.raises(daytwo.InvalidInput, match="instance id"):
        app.start_many("order", [1], ids=["has space"])
    assert _count(app) == 0
    assert app.start_many("order", []) == []


def test_a_client_without_the_code_starts_many_by_name(app: App) -> None:
    _order(app)
    app.store  # noqa: B018 -- the database exists
    client = daytwo.Client(app.database_url)
    try:
        with pytest.raises(daytwo.WorkflowNotFound, match="give the version"):
            client.start_many("order", [1])
        handles = client.start_many("order", [1, 2], version="1")
        assert all(h.created for h in handles)
    finally:
        client.close()
    with app.worker() as worker:
        worker.drain()
    assert [h.id for h in handles] and [app.result(h.id, 30) for h in handles] == [2, 4]


@contextlib.contextmanager
def _writes_held_up(app: App) -> Iterator[None]:
    """Another connection holds the write lock (SQLite) or a lock that blocks inserts
    (PostgreSQL) until the block ends."""
    if app.store.dialect == "sqlite":
        blocker = sqlite3.connect(app.store.engine.url.database or "", isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        return
    with app.store.engine.connect() as conn, conn.begin() as transaction:
        conn.execute(sa.text("LOCK TABLE instances IN SHARE ROW EXCLUSIVE MODE"))
        yield
        transaction.rollback()


def _queued_behind_a_held_lock(app: App, callers: list[threading.Thread]) -> None:
    """Run ``callers`` so that the first leads a commit that waits for a lock, and the
    others queue behind it; then let the lock go and wait for them."""
    starts = app.store._starts
    with _writes_held_up(app):
        callers[0].start()
        wait_until(lambda: starts._committing, timeout=30, what="a commit in progress")
        for thread in callers[1:]:
            thread.start()
        wait_until(lambda: len(starts._queue) == len(callers) - 1, timeout=30, what="queued starts")
    for thread in callers:
        thread.join(30)


def test_concurrent_starts_share_commits(app: App) -> None:
    _order(app)
    starts = app.store._starts
    commits = starts.commits
    handles: dict[int, daytwo.InstanceHandle] = {}

    def start(n: int) -> None:
        handles[n] = app.start("order", n, id=f"c-{n}")

    _queued_behind_a_held_lock(app, [threading.Thread(target=start, args=(n,)) for n in range(8)])
    assert sorted(handles) == list(range(8)) and all(h.created for h in handles.values())
    # The leader's own commit, then one for the seven that queued during it.
    assert starts.commits - commits == 2
    assert _count(app) == 8


def test_one_refused_start_in_a_shared_commit_fails_only_its_caller(app: App) -> None:
    _order(app)
    app.start("order", 1, id="taken")
    results: dict[int, Any] = {}

    def start(n: int) -> None:
        try:
            if n == 3:  # conflicts: its check refuses it inside the shared commit
                app.start_many("order", [9, 9], ids=["fresh", "taken"])
            else:
                results[n] = app.start("order", n, id=f"c-{n}").created
        except daytwo.InstanceConflict as exc:
            results[n] = exc

    _queued_behind_a_held_lock(app, [threading.Thread(target=start, args=(n,)) for n in range(8)])
    assert isinstance(results.pop(3), daytwo.InstanceConflict)
    assert results == {n: True for n in range(8) if n != 3}
    ids = {i.id for i in app.list(limit=100)}
    assert ids == {"taken", *(f"c-{n}" for n in range(8) if n != 3)}
