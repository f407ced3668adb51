"""Helpers for tests that run workers as real processes and check the external world.

Worker processes serve :mod:`workloads.crash_app` (or another workload module); each step
of that app appends a line to a side-effect log, which these helpers parse and check
against the database.
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from workloads.crash_app import LOG_ENV, RECORD_END, charge_fails_first, ship_rejects

import daytwo
from daytwo.store import TERMINAL_STATUSES
from daytwo.store._schema import workers

TESTS_DIR = Path(__file__).resolve().parent
#: The workload worker processes serve unless told otherwise.
CRASH_APP = "workloads.crash_app:app"


# -- worker processes ---------------------------------------------------------------------


def worker_command(app_spec: str = CRASH_APP) -> list[str]:
    """How to start a worker for ``app_spec`` (``MODULE:APP``, a workload module).

    The real CLI (``daytwo worker MODULE:APP``) when this daytwo has it, else the
    workload module's own ``python -m MODULE`` (same options).
    """
    script = Path(sys.executable).with_name("daytwo")
    if importlib.util.find_spec("daytwo.cli._main") is not None and script.exists():
        return [str(script), "worker", app_spec]
    return [sys.executable, "-m", app_spec.partition(":")[0]]


@dataclass
class WorkerProcess:
    """A worker subprocess serving a workload app."""

    name: str
    popen: subprocess.Popen[bytes]
    output_path: Path

    @property
    def pid(self) -> int:
        """The process id."""
        return self.popen.pid

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL the process (if it still runs) and reap it."""
        if self.alive():
            self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=30)

    def pause(self) -> None:
        """SIGSTOP the process: it stalls wherever it is, holding what it holds."""
        self.popen.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT a paused process."""
        self.popen.send_signal(signal.SIGCONT)

    def terminate(self, timeout: float) -> int:
        """SIGTERM the process and wait up to ``timeout`` s for it to exit; its exit code."""
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
        return self.popen.wait(timeout=timeout)

    def output(self) -> str:
        """The process's combined stdout and stderr so far (the tail)."""
        try:
            return self.output_path.read_text(errors="replace")[-4000:]
        except FileNotFoundError:
            return ""


@dataclass
class WorkerPool:
    """Starts worker processes and guarantees they are all killed at the end."""

    database: str
    log_path: Path
    directory: Path
    started: list[WorkerProcess] = field(default_factory=list)

    def spawn(
        self,
        *,
        concurrency: int = 8,
        lease_seconds: float = 2.0,
        shutdown_grace: float = 10.0,
        poll_interval: float = 0.25,
        queues: Sequence[str] = (),
        app_spec: str = CRASH_APP,
        env: Mapping[str, str] | None = None,
    ) -> WorkerProcess:
        """Start one worker process serving ``app_spec`` (on ``queues``; default: the
        default queue)."""
        name = f"worker-{len(self.started)}"
        output_path = self.directory / f"{name}.log"
        python_path = os.pathsep.join(
            p for p in (str(TESTS_DIR), os.environ.get("PYTHONPATH", "")) if p
        )
        environment = {
            **os.environ,
            "DAYTWO_DATABASE": self.database,
            LOG_ENV: str(self.log_path),
            "PYTHONPATH": python_path,
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        command = [
            *worker_command(app_spec),
            "--concurrency", str(concurrency),
            "--lease-seconds", str(lease_seconds),
            "--shutdown-grace", str(shutdown_grace),
            "--poll-interval", str(poll_interval),
            *itertools.chain.from_iterable(("--queue", queue) for queue in queues),
        ]  # fmt: skip
        with output_path.open("wb") as out:
            popen = subprocess.Popen(command, env=environment, stdout=out, stderr=subprocess.STDOUT)
        process = WorkerProcess(name, popen, output_path)
        self.started.append(process)
        return process

    def kill_all(self) -> None:
        """SIGKILL every process still running."""
        for process in self.started:
            with contextlib.suppress(Exception):
                process.kill()

    def outputs(self) -> str:
        """The output tails of every process, for failure messages."""
        return "\n".join(f"--- {p.name} (pid {p.pid}) ---\n{p.output()}" for p in self.started)


@contextlib.contextmanager
def worker_pool(database: str, log_path: Path, directory: Path) -> Iterator[WorkerPool]:
    """A :class:`WorkerPool` whose processes are killed however the block exits."""
    pool = WorkerPool(database, log_path, directory)
    try:
        yield pool
    finally:
        pool.kill_all()


def wait_until(
    predicate: Callable[[], bool], *, timeout: float, interval: float = 0.05, what: str = ""
) -> None:
    """Poll ``predicate`` until it holds; raise ``AssertionError`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
        time.sleep(interval)


def run_to_completion(
    pool: WorkerPool,
    workers: Sequence[WorkerProcess],
    done: Callable[[], bool],
    *,
    timeout: float,
    what: str = "all instances to finish",
) -> None:
    """Wait until ``done()`` while every one of ``workers`` stays alive, then SIGTERM them
    all and check that each exits 0."""
    wait_until(
        lambda: done() or not all(w.alive() for w in workers),
        timeout=timeout,
        interval=0.1,
        what=what,
    )
    assert all(w.alive() for w in workers), f"a worker exited on its own\n{pool.outputs()}"
    for worker in workers:
        assert worker.terminate(timeout=30) == 0, pool.outputs()


def worker_ids_of(app: daytwo.App, pid: int) -> list[str]:
    """The ids under which the process ``pid`` registered as a worker."""
    with app.store.read() as conn:
        return list(conn.execute(sa.select(workers.c.id).where(workers.c.pid == pid)).scalars())


def count_rows(app: daytwo.App, sql: str, **params: Any) -> int:
    """The single integer a SQL query returns."""
    with app.store.read() as conn:
        return int(conn.execute(sa.text(sql), params).scalar_one())


# -- the external world -------------------------------------------------------------------


@dataclass(frozen=True)
class SideEffect:
    """One line of the side-effect log: one execution of one step attempt."""

    instance_id: str
    seq: int
    label: str
    idempotency_key: str
    attempt: int
    pid: int
    outcome: str
    result: str

    @property
    def execution(self) -> tuple[str, int, int]:
        """What identifies the attempt: ``(instance, seq, attempt)``."""
        return (self.instance_id, self.seq, self.attempt)


def read_side_effects(path: Path) -> list[SideEffect]:
    """Parse the side-effect log (empty if no step ran yet).

    A record torn by a SIGKILL during its write (no end marker) is left out: its step did
    not return, so no history row can stand on it, and a later execution repeats it.
    """
    if not path.exists():
        return []
    effects = []
    for line in path.read_text().splitlines():
        fields = line.split(" ")
        if len(fields) != 9 or fields[-1] != RECORD_END:
            continue  # the blank line before the first record, or a torn record
        instance_id, seq, label, key, attempt, pid, outcome, result, _end = fields
        effects.append(
            SideEffect(instance_id, int(seq), label, key, int(attempt), int(pid), outcome, result)
        )
    return effects


def count_lines(path: Path) -> int:
    """How many side effects the log holds (records begun: each starts with a newline)."""
    if not path.exists():
        return 0
    return path.read_bytes().count(b"\n")


@dataclass
class SagaReport:
    """What :func:`check_saga_instances` found."""

    instances: int
    succeeded: int
    compensated: int
    executions: int
    #: Executions repeated because a kill interrupted them: of attempts recorded as lost
    #: with their worker, and beyond the first of the same ``(instance, seq, attempt)``.
    duplicates: int
    #: ``(instance, seq, attempt)`` -> pids, for every interrupted execution.
    duplicated: dict[tuple[str, int, int], list[int]]
    #: Re-executions per step label (``reserve``, ``refund``, ...).
    duplicated_labels: Counter[str]


#: The error type of an attempt recorded as lost with its worker.
WORKER_LOST = "WorkerLost"


def expected_saga_shape(n: int) -> list[tuple[str, str, str]]:
    """The history an instance of the saga must end with: (kind, name, outcome).

    Each row's attempt number is one more than the failed or lost attempts recorded at its
    position (checked separately, since kills add lost attempts anywhere).
    """
    head = [
        ("step", "reserve", "completed"),
        ("step", "charge", "completed"),
        ("timer", "cooling-off", "completed"),
    ]
    if ship_rejects(n):
        return [
            *head,
            ("step", "ship", "failed"),
            ("compensation", "charge", "completed"),
            ("compensation", "reserve", "completed"),
        ]
    return [*head, ("step", "ship", "completed"), ("step", "notify", "completed")]


def saga_id(n: int) -> str:
    """The instance id of saga number ``n``."""
    return f"saga-{n:04d}"


def check_saga_instances(
    app: daytwo.App,
    numbers: Sequence[int],
    log_path: Path,
    *,
    killed_pids: Sequence[int] = (),
) -> SagaReport:
    """Check the database and the side-effect log after saga instances ran.

    Asserts: every instance ended SUCCEEDED (COMPENSATED where ``ship`` rejects); each has
    one history row per seq with the expected shape; the output equals the recorded step
    results; failed attempts are recorded once; state transitions form a chain that ends in
    the terminal state; the log shows one idempotency key per (instance, seq), the recorded
    result is the one of the attempt's last execution, and every execution before the last
    of the same attempt was made by a process in ``killed_pids``.
    """
    effects = read_side_effects(log_path)
    by_execution: dict[tuple[str, int, int], list[SideEffect]] = defaultdict(list)
    keys_by_position: dict[tuple[str, int], set[str]] = defaultdict(set)
    for effect in effects:
        by_execution[effect.execution].append(effect)
        keys_by_position[(effect.instance_id, effect.seq)].add(effect.idempotency_key)

    duplicate_rows = count_rows(
        app,
        "SELECT count(*) FROM (SELECT instance_id, seq FROM history "
        "GROUP BY instance_id, seq HAVING count(*) > 1) AS duplicated",
    )
    assert duplicate_rows == 0, "some (instance, seq) has more than one history row"
    leased = count_rows(app, "SELECT count(*) FROM instances WHERE lease_owner IS NOT NULL")
    assert leased == 0, "finished instances must not hold a lease"

    explained: set[tuple[str, int, int]] = set()
    lost_executions: dict[tuple[str, int, int], list[SideEffect]] = {}
    succeeded = compensated = 0
    for n in numbers:
        instance_id = saga_id(n)
        instance = app.get(instance_id)
        expected_status = "COMPENSATED" if ship_rejects(n) else "SUCCEEDED"
        assert instance.status == expected_status, (instance_id, instance.status, instance.error)
        succeeded += instance.status == "SUCCEEDED"
        compensated += instance.status == "COMPENSATED"

        events = app.history(instance_id)
        assert [e.seq for e in events] == list(range(len(events))), instance_id
        shape = [(e.kind, e.name, e.outcome) for e in events]
        assert shape == expected_saga_shape(n), (instance_id, shape)
        attempts = app.attempts(instance_id)
        before: Counter[int] = Counter(a.seq for a in attempts)
        for event in events:  # a failed row's own attempt is among the failed attempts
            made = before[event.seq] + (event.outcome != "failed")
            if event.kind != "timer":
                assert event.attempt == made, (instance_id, event, attempts)

        # Each step or compensation in the history was executed for real, under its
        # stable key, and the recorded result is what its last execution returned.
        for event in events:
            if event.kind == "timer":
                continue
            position = (instance_id, event.seq)
            expected_key = (
                f"{instance_id}:{event.seq}"
                if event.kind == "step"
                else f"{instance_id}:{event.detail['compensates']}:compensate"  # type: ignore[index]
            )
            assert event.idempotency_key == expected_key, (position, event.idempotency_key)
            assert keys_by_position[position] == {expected_key}, (
                position,
                keys_by_position[position],
            )
            runs = by_execution.get((instance_id, event.seq, event.attempt))
            assert runs, f"{position} is recorded but was never executed"
            explained.add((instance_id, event.seq, event.attempt))
            if event.kind == "step" and event.outcome == "completed":
                assert event.result == runs[-1].result, (position, event.result, runs)
        # Business failures: charge's first attempt (unless that attempt was lost with its
        # worker: charge fails only as attempt 1) and ship's rejection. Every other recorded
        # attempt was lost with a killed worker, which ran it (or died before it started).
        failed = [(a.seq, a.attempt) for a in attempts if a.error["type"] != WORKER_LOST]
        lost = [(a.seq, a.attempt) for a in attempts if a.error["type"] == WORKER_LOST]
        expected_failed = [(1, 1)] if charge_fails_first(n) and (1, 1) not in lost else []
        if ship_rejects(n):  # the rejection ends ship at whichever attempt got that far
            expected_failed.append((3, events[3].attempt))
        assert failed == expected_failed, (instance_id, attempts)
        for seq, attempt in failed:
            explained.add((instance_id, seq, attempt))
            assert by_execution.get((instance_id, seq, attempt)), (instance_id, seq, attempt)
        for seq, attempt in lost:
            explained.add((instance_id, seq, attempt))
            runs = by_execution.get((instance_id, seq, attempt), [])
            assert {run.pid for run in runs} <= set(killed_pids), (instance_id, seq, runs)
            lost_executions[(instance_id, seq, attempt)] = runs

        # The output is made of the recorded results.
        results = {e.name: e.result for e in events if e.kind == "step"}
        if instance.status == "SUCCEEDED":
            assert instance.output == {
                "n": n,
                "reservation": results["reserve"],
                "charge": results["charge"],
                "shipment": results["ship"],
                "notification": results["notify"],
            }, instance_id
        else:
            assert instance.output is None
            assert instance.error is not None and instance.error["type"] == "StepFailed"

        moves = app.transitions(instance_id)
        assert moves[0].from_state is None and moves[0].to_state == "queued", instance_id
        for earlier, later in itertools.pairwise(moves):
            assert later.from_state == earlier.to_state, (instance_id, earlier, later)
        assert moves[-1].to_state == instance.status.lower(), (instance_id, moves[-1])
        assert moves[-1].status == instance.status, (instance_id, moves[-1])
        assert instance.state == instance.status.lower()

    instance_ids = {saga_id(n) for n in numbers}
    phantom = [key for key in by_execution if key[0] in instance_ids and key not in explained]
    assert not phantom, f"executions that no history or attempt row accounts for: {phantom}"

    killed = set(killed_pids)
    duplicated: dict[tuple[str, int, int], list[int]] = {}
    duplicated_labels: Counter[str] = Counter()
    for key, runs in by_execution.items():
        if key[0] not in instance_ids:
            continue
        # A lost attempt's executions were all interrupted; of any other attempt, every
        # execution but the last (the one whose outcome was recorded).
        interrupted = runs if key in lost_executions else runs[:-1]
        if not interrupted:
            continue
        duplicated[key] = [run.pid for run in runs]
        duplicated_labels[runs[0].label] += len(interrupted)
        assert {run.pid for run in interrupted} <= killed, (
            f"{key} was executed again although the process that executed it first "
            f"was not killed: pids {duplicated[key]}, killed {sorted(killed)}"
        )
    return SagaReport(
        instances=len(numbers),
        succeeded=succeeded,
        compensated=compensated,
        executions=sum(len(runs) for key, runs in by_execution.items() if key[0] in instance_ids),
        duplicates=sum(duplicated_labels.values()),
        duplicated=duplicated,
        duplicated_labels=duplicated_labels,
    )


def check_sagas_after_kills(
    app: daytwo.App,
    numbers: Sequence[int],
    log_path: Path,
    *,
    killed_pids: Sequence[int],
    unfinished_at_kill: Sequence[int],
    max_duplicates: int,
) -> SagaReport:
    """:func:`check_saga_instances` after a run with SIGKILLs, which must each have found
    unfinished work, and at most ``max_duplicates`` re-executions in all."""
    assert min(unfinished_at_kill) > 0, unfinished_at_kill
    report = check_saga_instances(app, numbers, log_path, killed_pids=killed_pids)
    assert report.succeeded + report.compensated == len(numbers)
    assert report.duplicates <= max_duplicates, report.duplicated
    return report


def status_counts(app: daytwo.App, workflow: str | None = None) -> Mapping[str, int]:
    """Instances per status."""
    return app.store.count_by_status(workflow)


def finished_count(app: daytwo.App) -> int:
    """Instances that ended, whatever their end status."""
    return sum(n for status, n in status_counts(app).items() if status in TERMINAL_STATUSES)


def free_port() -> int:
    """A loopback port with nothing listening on it (free to bind, or to find closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
