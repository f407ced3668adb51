"""The SLO buckets written on the hot path agree with the rows they count."""

from __future__ import annotations

import contextlib
import sqlite3
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import daytwo
from daytwo.slo._buckets import load_buckets
from daytwo.store._aggregates import end_series
from daytwo.store._migrate import alembic_config
from daytwo.store._schema import history, instances, slo_buckets, step_attempts

HOUR = 3600.0
OUTCOMES = ("ok", "reject", "flaky", "broken")


def shop(url: str, clock: daytwo.FakeClock) -> daytwo.App:
    app = daytwo.App(url, clock=clock)
    calls = Counter[str]()

    @app.step(retry=daytwo.Retry(max_attempts=2, initial_delay=30.0, jitter=0.0))
    def charge(kind: str) -> str:
        calls[kind] += 1
        if kind == "broken" or (kind == "flaky" and calls[kind] % 2):
            raise RuntimeError("payments down")
        return "c"

    @charge.compensate
    def refund(kind: str, charge_id: str) -> None:
        pass

    @app.workflow(name="order")
    def order(ctx: daytwo.Context, kind: str) -> str:
        charge(kind)
        if kind == "reject":
            raise daytwo.Reject("no stock")
        return "ok"

    return app


def expected_counts(app: daytwo.App, since: float) -> Counter[str]:
    """What the buckets should hold from ``since`` on, recounted from the rows."""
    counts: Counter[str] = Counter()
    with app.store.read() as conn:
        for status, created, finished in conn.execute(
            sa.select(instances.c.status, instances.c.created_at, instances.c.finished_at).where(
                instances.c.finished_at >= since
            )
        ):
            counts[end_series(status, finished - created)] += 1
        for (name,) in conn.execute(
            sa.select(step_attempts.c.name).where(step_attempts.c.finished_at >= since)
        ):
            counts[f"retry:{name}"] += 1
        for (name,) in conn.execute(
            sa.select(history.c.name).where(
                history.c.kind == "compensation", history.c.finished_at >= since
            )
        ):
            counts[f"comp:{name}"] += 1
    return counts


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(st.sampled_from(OUTCOMES), st.floats(min_value=0, max_value=30 * HOUR)),
        min_size=1,
        max_size=10,
    ),
    st.lists(st.integers(min_value=0, max_value=400), min_size=1, max_size=4),
)
def test_window_counts_match_a_recount(
    tmp_path_factory: pytest.TempPathFactory, plan: list[tuple[str, float]], hours_back: list[int]
) -> None:
    clock = daytwo.FakeClock()
    app = shop(f"sqlite:///{tmp_path_factory.mktemp('agg') / 'a.db'}", clock)
    try:
        for kind, pause in plan:
            with contextlib.suppress(daytwo.WorkflowFailed):
                app.run("order", kind)
            clock.advance(pause)
        now = clock.now()
        top = now - now % HOUR
        starts = [top - back * HOUR for back in hours_back]  # hour-aligned: exact windows
        buckets = load_buckets(app.store, "order", None, now, starts)
        for start in starts:
            assert buckets.window(start) == expected_counts(app, start), start
    finally:
        app.close()


def test_upgrade_counts_the_past_into_buckets(tmp_path: Path) -> None:
    """A database at revision 0001 with ended instances gets their buckets on upgrade."""
    path = tmp_path / "old.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    config = alembic_config(engine)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
    engine.dispose()
    t0 = 1_767_225_600.0
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO instances (id, workflow, version, status, state, state_entered_at, "
            "input, created_at, updated_at, finished_at) VALUES "
            "('a', 'order', '1', 'SUCCEEDED', 'succeeded', ?, '1', ?, ?, ?), "
            "('b', 'order', '1', 'COMPENSATED', 'compensated', ?, '1', ?, ?, ?)",
            (t0 + 50, t0, t0 + 50, t0 + 50, t0 + 4000, t0 + 3000, t0 + 4000, t0 + 4000),
        )
        conn.execute(
            "INSERT INTO step_attempts VALUES ('b', 0, 1, 'charge', '{}', 'b:0', ?, ?, NULL)",
            (t0 + 3100, t0 + 3100),
        )
        conn.execute(
            "INSERT INTO history (instance_id, seq, kind, name, outcome, started_at, "
            "finished_at) VALUES ('b', 1, 'compensation', 'charge', 'completed', ?, ?)",
            (t0 + 3900, t0 + 3900),
        )
    app = daytwo.App(f"sqlite:///{path}")
    with app.store.read() as conn:
        rows = {
            (r.resolution, r.bucket_start, r.series): (r.events, r.cycle_seconds, r.last_at)
            for r in conn.execute(sa.select(slo_buckets))
        }
    app.close()
    # Counts (migration 0003), then the cycle-time sums and latest event times (0005).
    assert rows == {
        (60, t0, "end:SUCCEEDED:60"): (1, 50, t0 + 50),
        (3600, t0, "end:SUCCEEDED:60"): (1, 50, t0 + 50),
        (60, t0 + 3960, "end:COMPENSATED:1200"): (1, 1000, t0 + 4000),
        (3600, t0 + 3600, "end:COMPENSATED:1200"): (1, 1000, t0 + 4000),
        (60, t0 + 3060, "retry:charge"): (1, 0, t0 + 3100),
        (3600, t0, "retry:charge"): (1, 0, t0 + 3100),
        (60, t0 + 3900, "comp:charge"): (1, 0, t0 + 3900),
        (3600, t0 + 3600, "comp:charge"): (1, 0, t0 + 3900),
    }


def test_upgrade_sums_the_cycle_times_of_existing_buckets(tmp_path: Path) -> None:
    """A database at 0004 whose buckets were written without sums gets them from the rows."""
    path = tmp_path / "old.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    config = alembic_config(engine)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0004")
    engine.dispose()
    t0 = 1_767_225_600.0
    with sqlite3.connect(path) as raw:
        for n, took in enumerate((6.0, 7.5, 40.0)):  # two in one bucket, one in the next bin
            raw.execute(
                "INSERT INTO instances (id, workflow, version, status, state, "
                "state_entered_at, input, created_at, updated_at, finished_at) VALUES "
                "(?, 'order', '1', 'SUCCEEDED', 'succeeded', ?, '1', ?, ?, ?)",
                (f"i{n}", t0 + 10 + n, t0 + 10 + n - took, t0 + 10 + n, t0 + 10 + n),
            )
        # What the hot path of daytwo before 0005 had written for them.
        raw.executemany(
            "INSERT INTO slo_buckets VALUES ('order', ?, ?, '1', ?, ?)",
            [(r, t0, "end:SUCCEEDED:10", 2) for r in (60, 3600)]
            + [(r, t0, "end:SUCCEEDED:60", 1) for r in (60, 3600)],
        )
    app = daytwo.App(f"sqlite:///{path}", clock=daytwo.FakeClock(t0 + 20))

    @app.workflow(name="order", version="1")
    def order(ctx: daytwo.Context, seconds: float) -> str:
        ctx.sleep(seconds, name="ship")
        return "ok"

    def rows() -> dict[tuple[int, str], tuple[int, float, float]]:
        with app.store.read() as conn:
            return {
                (r.resolution, r.series): (r.events, r.cycle_seconds, r.last_at)
                for r in conn.execute(sa.select(slo_buckets))
            }

    try:
        assert rows() == {
            (60, "end:SUCCEEDED:10"): (2, 13.5, t0 + 11),
            (3600, "end:SUCCEEDED:10"): (2, 13.5, t0 + 11),
            (60, "end:SUCCEEDED:60"): (1, 40.0, t0 + 12),
            (3600, "end:SUCCEEDED:60"): (1, 40.0, t0 + 12),
        }
        # A new end adds to the sum (and moves last_at) in the upsert that counts it.
        app.run("order", 8.0)
        assert rows()[60, "end:SUCCEEDED:10"] == (3, 21.5, t0 + 28)
        assert rows()[3600, "end:SUCCEEDED:10"] == (3, 21.5, t0 + 28)
    finally:
        app.close()
