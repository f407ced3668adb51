"""Result waits (issue 11 item 3): the callers of ``result()`` in one process share one
poller thread per client, and runs of this process hand them their ends at once.

A test that must see the in-process hand-over alone slows the poller's rounds down to an
hour (``first_interval``/``longest_interval``): a result that arrives then came from it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from _harness import wait_until

import daytwo
from daytwo._results import ResultWaits

POLLER = "daytwo-result-waits"
#: Rounds an hour apart: only the first one happens during a test.
HOUR = 3600.0


def pollers() -> int:
    """Live result-wait poller threads in this process."""
    return sum(thread.name == POLLER for thread in threading.enumerate())


def register(app: daytwo.App) -> daytwo.App:
    """``double`` (one step), ``parked`` (waits for signal ``go``, returns its payload) and
    ``doomed`` (fails)."""

    @app.step
    def twice(x: int) -> int:
        return 2 * x

    @app.workflow(name="double")
    def double(ctx: daytwo.Context, x: int) -> int:
        return twice(x)

    @app.workflow(name="parked")
    def parked(ctx: daytwo.Context, x: int) -> Any:
        return [x, ctx.wait_for_signal("go")]

    @app.workflow(name="doomed")
    def doomed(ctx: daytwo.Context, x: int) -> int:
        raise ValueError(f"no {x}")

    return app


def slow_rounds(waits: ResultWaits) -> None:
    waits.first_interval = waits.longest_interval = HOUR


class Waiters:
    """Threads each waiting with ``result()`` on its share of handles."""

    def __init__(self, wait: Callable[[str], Any], ids: list[str], threads: int) -> None:
        #: (instance id, result) in the order they came.
        self.results: list[tuple[str, Any]] = []
        self.failures: list[BaseException] = []
        self._wait = wait
        self._threads = [
            threading.Thread(target=self._run, args=(ids[i::threads],), name=f"waiter-{i}")
            for i in range(threads)
        ]

    def _run(self, ids: list[str]) -> None:
        try:
            for instance_id in ids:
                self.results.append((instance_id, self._wait(instance_id)))
        except BaseException as exc:
            self.failures.append(exc)

    @contextmanager
    def running(self) -> Iterator[Waiters]:
        for thread in self._threads:
            thread.start()
        try:
            yield self
        finally:
            for thread in self._threads:
                thread.join(60)
        assert not self.failures, self.failures
        assert not any(thread.is_alive() for thread in self._threads)


def test_many_threads_waiting_on_many_instances_share_one_poller(app: daytwo.App) -> None:
    register(app)
    ids = [app.start("double", x, id=f"d-{x}").id for x in range(120)]
    waits = app.client.result_waits
    before = pollers()
    with Waiters(lambda i: app.result(i, timeout=60), ids, threads=12).running() as waiters:
        # Nothing runs them yet: every thread waits, all of them on the one poller.
        wait_until(lambda: waits.waited() == 12, timeout=30, what="12 waits")
        assert pollers() == before + 1
        with app.worker(concurrency=8, poll_interval=0.05):
            wait_until(lambda: len(waiters.results) == 120, timeout=60, what="the results")
    assert sorted(waiters.results) == sorted((f"d-{x}", 2 * x) for x in range(120))
    assert pollers() == before + 1 and waits.waited() == 0


def test_in_process_ends_are_handed_over_without_a_round(app: daytwo.App) -> None:
    register(app)
    waits = app.client.result_waits
    slow_rounds(waits)
    parked = [app.start("parked", x, id=f"p-{x}").id for x in range(6)]
    with (
        app.worker(concurrency=8, poll_interval=0.05),
        Waiters(lambda i: app.result(i, timeout=60), parked, threads=6).running() as waiters,
    ):
        wait_until(lambda: waits.waited() == 6, timeout=30, what="6 waits")
        # Forty instances nobody waits for end in this process: no read for any of them.
        for x in range(40):
            app.start("double", x)
        wait_until(
            lambda: app.store.count_by_status("double").get("SUCCEEDED") == 40,
            timeout=30,
            what="the unwaited instances",
        )
        assert waits.lookups == 0
        for instance_id in parked:
            app.signal(instance_id, "go", instance_id)
        wait_until(lambda: len(waiters.results) == 6, timeout=30, what="the parked ones")
    assert sorted(waiters.results) == [(f"p-{x}", [x, f"p-{x}"]) for x in range(6)]
    # A read per batch of ends at most (not one per waiter per end), and no round: they
    # are an hour apart.
    assert 1 <= waits.lookups <= 6
    assert waits.rounds == 0


def test_a_wait_sees_an_end_in_another_process(db_url: str) -> None:
    waiting = register(daytwo.App(db_url))
    running = register(daytwo.App(db_url))  # its runs are not the waiting app's own
    try:
        handle = waiting.start("double", 21)
        waits = waiting.client.result_waits
        result: list[Any] = []
        waiter = threading.Thread(target=lambda: result.append(handle.result(timeout=60)))
        waiter.start()
        wait_until(lambda: waits.waited() == 1, timeout=30, what="the wait")
        with running.worker(concurrency=2, poll_interval=0.05):
            waiter.join(60)
        assert result == [42]
        assert waits.rounds >= 1 and waits.lookups == 0  # found by a round, not handed over
    finally:
        waiting.close()
        running.close()


def test_a_timeout_names_status_and_state_and_ends_the_wait(app: daytwo.App) -> None:
    register(app)
    handle = app.start("double", 1, id="idle")
    message = r"instance 'idle' is still RUNNABLE \(state 'queued'\) after 0.05 s"
    with pytest.raises(TimeoutError, match=message):
        handle.result(timeout=0.05)
    with pytest.raises(TimeoutError, match="after 0 s"):
        handle.result(timeout=0)
    assert app.client.result_waits.waited() == 0
    with pytest.raises(daytwo.InstanceNotFound):
        app.result("nope", timeout=1)


def test_two_waiters_on_the_same_instance_both_get_it(app: daytwo.App) -> None:
    register(app)
    waits = app.client.result_waits
    slow_rounds(waits)
    instance_id = app.start("parked", 7, id="twice-waited").id
    timeouts = iter([60, float("inf")])  # a timeout past what a lock takes is no error
    with (
        app.worker(concurrency=2, poll_interval=0.05),
        Waiters(lambda i: app.result(i, next(timeouts)), [instance_id] * 2, 2).running() as both,
    ):
        wait_until(lambda: len(waits._waiters.get(instance_id, [])) == 2, timeout=30)
        app.signal(instance_id, "go", "now")
    assert both.results == [(instance_id, [7, "now"])] * 2
    assert waits.waited() == 0 and waits.rounds == 0


def test_a_failed_instance_raises_workflow_failed_waited_or_not(app: daytwo.App) -> None:
    register(app)
    handle = app.start("doomed", 3, id="doomed-1")
    failures: list[daytwo.WorkflowFailed] = []

    def wait() -> None:
        with pytest.raises(daytwo.WorkflowFailed) as caught:
            handle.result(timeout=60)
        failures.append(caught.value)

    waiter = threading.Thread(target=wait)
    waiter.start()
    wait_until(lambda: app.client.result_waits.waited() == 1, timeout=30, what="the wait")
    with app.worker(concurrency=2, poll_interval=0.05):
        waiter.join(60)
    with pytest.raises(daytwo.WorkflowFailed) as again:  # ended already: the direct read
        handle.result()
    stored = app.get("doomed-1")
    assert stored.status == "FAILED"
    for failure in [*failures, again.value]:
        assert (failure.instance_id, failure.status) == ("doomed-1", "FAILED")
        assert failure.error == stored.error and "no 3" in str(failure)


def test_an_inline_run_hands_its_end_to_the_waiters(app: daytwo.App) -> None:
    release = threading.Event()

    @app.step
    def first() -> int:
        return 1

    @app.step
    def blocked() -> int:
        release.wait(60)
        return 2

    @app.workflow(name="inline")
    def inline(ctx: daytwo.Context, _input: Any) -> int:
        return first() + blocked()

    waits = app.client.result_waits
    slow_rounds(waits)
    runner = threading.Thread(target=lambda: app.run("inline", id="inline-1", timeout=60))
    runner.start()
    wait_until(lambda: bool(app.list(workflow="inline")), timeout=30, what="the inline row")
    result: list[Any] = []
    waiter = threading.Thread(target=lambda: result.append(app.result("inline-1", timeout=60)))
    waiter.start()
    wait_until(lambda: waits.waited() == 1, timeout=30, what="the wait")
    release.set()
    runner.join(60)
    waiter.join(60)
    assert result == [3]
    assert waits.lookups == 1 and waits.rounds == 0


def test_an_ended_instance_needs_no_poller_and_close_stops_it(db_url: str) -> None:
    app = register(daytwo.App(db_url))
    try:
        assert app.run("double", 5, id="ran") == 10
        client = daytwo.Client(db_url)
        try:
            before = pollers()
            assert client.result("ran") == 10  # the direct read: no wait, no poller
            assert client.result_waits.rounds == 0 and pollers() == before
            idle = app.start("double", 1)
            with pytest.raises(TimeoutError):
                client.result(idle.id, timeout=0.05)
            assert pollers() == before + 1
        finally:
            client.close()
        assert pollers() == before
    finally:
        app.close()
    assert pollers() == before


def test_waits_keep_real_time_with_a_fake_clock(fake_app: daytwo.App) -> None:
    register(fake_app)
    handle = fake_app.start("double", 4)
    with pytest.raises(TimeoutError):
        handle.result(timeout=0.05)  # real seconds: the fake clock never moves
    with fake_app.worker(concurrency=2, poll_interval=0.05):
        assert handle.result(timeout=60) == 8


def test_a_wait_in_progress_goes_on_when_the_waits_close(db_url: str) -> None:
    waiting = register(daytwo.App(db_url))
    running = register(daytwo.App(db_url))
    try:
        handle = waiting.start("double", 8)
        waits = waiting.client.result_waits
        result: list[Any] = []
        waiter = threading.Thread(target=lambda: result.append(handle.result(timeout=60)))
        waiter.start()
        wait_until(lambda: waits.waited() == 1, timeout=30, what="the wait")
        waits.close()  # the wait reads again, registers again, and a new poller serves it
        wait_until(lambda: waits.waited() == 1 and pollers() >= 1, timeout=30, what="again")
        with running.worker(concurrency=2, poll_interval=0.05):
            waiter.join(60)
        assert result == [16]
    finally:
        waiting.close()
        running.close()
