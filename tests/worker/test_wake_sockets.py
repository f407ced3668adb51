"""SQLite workers hear of new work from other processes at once (``_wake_sockets.py``).

A worker that polls once an hour still runs a start made by another process: the start's
commit sends a datagram to the worker's socket in ``<database>-wake/``. A worker killed
with SIGKILL leaves its socket file behind; the next start removes it.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from _harness import wait_until, worker_pool
from workloads.crash_app import build_app

from daytwo.store import WakeReceiver
from daytwo.store._wake_sockets import WakeSender, wake_directory

pytestmark = pytest.mark.backends("sqlite")

#: A poll interval no test waits for: only a wake-up can make the worker look.
NEVER = 3600.0


def _sockets(database: Path) -> list[str]:
    directory = Path(wake_directory(str(database)))
    return sorted(os.listdir(directory)) if directory.is_dir() else []


def test_a_worker_that_never_polls_runs_a_start_made_by_another_process(
    tmp_path: Path, db_url: str
) -> None:
    database = Path(db_url.removeprefix("sqlite:///"))
    app = build_app(db_url, str(tmp_path / "effects.log"))
    app.store  # noqa: B018 -- the tables exist before the worker opens the file
    with worker_pool(db_url, tmp_path / "effects.log", tmp_path) as pool:
        worker = pool.spawn(poll_interval=NEVER)
        wait_until(lambda: len(_sockets(database)) == 1, timeout=60, what="the wake-up socket")
        # The worker has made its first (empty) claim and now sleeps for an hour.
        handle = app.start("saga", 1)
        wait_until(
            lambda: handle.status().status in {"SUCCEEDED", "COMPENSATED"},
            timeout=60,
            what="the saga to end (woken, not polled)",
        )
        assert worker.terminate(30) == 0
    assert _sockets(database) == [], "a stopped worker removes its socket"
    app.close()


def test_the_socket_of_a_killed_worker_is_removed_by_the_next_start(
    tmp_path: Path, db_url: str
) -> None:
    database = Path(db_url.removeprefix("sqlite:///"))
    app = build_app(db_url, str(tmp_path / "effects.log"))
    app.store  # noqa: B018
    with worker_pool(db_url, tmp_path / "effects.log", tmp_path) as pool:
        worker = pool.spawn(poll_interval=NEVER)
        wait_until(lambda: len(_sockets(database)) == 1, timeout=60, what="the wake-up socket")
        worker.kill()
    assert len(_sockets(database)) == 1, "SIGKILL leaves the socket file"
    app.start("saga", 2)  # nobody listens on it: the sender removes it
    assert _sockets(database) == []
    app.close()


def test_many_wake_ups_are_read_as_one_and_a_full_queue_is_not_an_error(tmp_path: Path) -> None:
    directory = str(tmp_path / "db-wake")
    woken: list[int] = []
    receiver = WakeReceiver(directory, lambda: woken.append(1), name="test")
    assert receiver.start()
    sender = WakeSender(directory)
    for _ in range(5000):  # far more than a datagram queue holds: never blocks or raises
        assert sender.send() == 1
    wait_until(lambda: bool(woken), timeout=30, what="a wake-up")
    receiver.stop()
    assert not os.listdir(directory)
    assert sender.send() == 0
    sender.close()


def test_a_path_too_long_for_a_socket_means_polling(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 120)
    receiver = WakeReceiver(str(deep), lambda: None, name="test")
    assert not receiver.start()
    assert WakeSender(str(deep)).send() == 0


def test_a_socket_file_of_someone_else_is_left_alone(tmp_path: Path) -> None:
    directory = tmp_path / "db-wake"
    directory.mkdir()
    (directory / "not-a-socket").write_text("x")
    listening = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listening.bind(str(directory / "other"))
    try:
        assert WakeSender(str(directory)).send() == 1
        assert sorted(os.listdir(directory)) == ["not-a-socket", "other"]
    finally:
        listening.close()
