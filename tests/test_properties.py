"""Property: a crash at any durable point changes nothing but re-executions with one key.

A random workflow program (steps that fail a few times, durable sleeps, signals) runs
inline; the run "dies" (a BaseException from the writer, dropping all in-memory state) just
before or just after its k-th commit. A fresh app on the same database then finishes the
instance. Whatever k is, the result and the history equal those of an uninterrupted run,
and every execution of a step position carried the same idempotency key.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import daytwo
from daytwo import App, FakeClock, Retry
from daytwo.app import INLINE_LEASE_SECONDS
from daytwo.store import InstanceWrite, WriteOutcome


class _Crash(BaseException):
    """Stands in for the process dying."""


ops = st.lists(
    st.one_of(
        st.tuples(st.just("step"), st.integers(min_value=0, max_value=2)),
        st.tuples(st.just("sleep"), st.integers(min_value=1, max_value=100)),
        st.tuples(st.just("signal"), st.integers(min_value=0, max_value=1)),
    ),
    min_size=1,
    max_size=6,
)


def _build(db_url: str, clock: FakeClock, executions: dict[str, list[str]]) -> App:
    app = App(db_url, clock=clock)
    failures: dict[str, int] = defaultdict(int)

    @app.step(retry=Retry(max_attempts=5, initial_delay=1, jitter=0))
    def work(position: int, fail_times: int) -> int:
        info = daytwo.current_step()
        executions[f"{position}"].append(info.idempotency_key)
        if failures[info.idempotency_key] < fail_times:
            failures[info.idempotency_key] += 1
            raise ConnectionError("flaky")
        return position * 10

    @app.workflow(name="program")
    def program(ctx: daytwo.Context, steps: list[list[Any]]) -> list[Any]:
        out: list[Any] = []
        for position, (kind, arg) in enumerate(steps):
            if kind == "step":
                out.append(work(position, arg))
            elif kind == "sleep":
                ctx.sleep(arg)
                out.append("slept")
            else:
                out.append(ctx.wait_for_signal(f"s{position}"))
        return out

    return app


def _expected(program: list[tuple[str, int]]) -> list[Any]:
    return [
        p * 10 if kind == "step" else "slept" if kind == "sleep" else f"payload-s{p}"
        for p, (kind, _arg) in enumerate(program)
    ]


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(program=ops, crash_at=st.integers(min_value=1, max_value=12), after=st.booleans())
def test_crash_at_any_commit_is_invisible(
    db_url: str, program: list[tuple[str, int]], crash_at: int, after: bool
) -> None:
    # Every example shares the test's database, each with an instance of its own.
    iid = f"p-{uuid.uuid4().hex}"
    clock = FakeClock()
    executions: dict[str, list[str]] = defaultdict(list)
    first = _build(db_url, clock, executions)
    # Signals are sent up front so that waits complete; sleeps are slept through by the
    # inline run's fake clock.
    store = first.store
    commits = 0
    real_apply = store.apply

    def crashing_apply(writes: Any, claims: Any = ()) -> list[WriteOutcome]:
        nonlocal commits
        commits += 1
        if commits == crash_at and not after:
            raise _Crash()
        outcomes = real_apply(writes, claims)
        if commits == crash_at and after:
            raise _Crash()
        return outcomes

    store.apply = crashing_apply  # type: ignore[method-assign]
    steps = [list(op) for op in program]
    handle = first.start("program", steps, id=iid)
    for position, (kind, _arg) in enumerate(program):
        if kind == "signal":
            first.signal(iid, f"s{position}", f"payload-s{position}")
    crashed = False
    try:
        result = first.run("program", steps, id=iid)
    except _Crash:
        crashed = True
    first.close()
    if crashed:
        clock.advance(INLINE_LEASE_SECONDS + 1)
        second = _build(db_url, clock, executions)
        result = second.run("program", steps, id=iid)
        history = second.history(iid)
        second.close()
    else:
        history = first.history(iid)
    assert handle.id == iid
    assert result == _expected(program)
    assert [event.seq for event in history] == list(range(len(program)))
    for seq, keys in executions.items():
        assert set(keys) == {f"{iid}:{seq}"}


def test_writes_are_fenced_by_the_lease_token(app: App) -> None:
    @app.workflow(name="noop")
    def noop(ctx: daytwo.Context, _: Any) -> None:
        return None

    app.start("noop", None, id="n")
    now = app.clock.now()
    [first] = app.store.claim("a", [("noop", "1")], now=now, lease_seconds=1, limit=1)
    [second] = app.store.claim("b", [("noop", "1")], now=now + 2, lease_seconds=30, limit=1)
    assert second["lease_token"] == first["lease_token"] + 1
    stale = InstanceWrite("n", first["lease_token"], dict(first))
    assert app.store.apply([stale]) == [WriteOutcome(applied=False)]
