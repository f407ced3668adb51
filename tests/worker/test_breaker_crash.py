"""A half-open circuit's probe whose worker process is SIGKILLed inside the call: its permit
frees itself when the lease expires, another process probes, the circuit closes, and every
instance completes. The breaker's state is shared by the processes through the store."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from _harness import wait_until, worker_pool
from workloads.breaker_app import DIRECTORY_ENV

import daytwo
from daytwo import BreakerState
from daytwo.store import breaker_probes


def test_a_probe_killed_with_its_worker_frees_its_permit(db_url: str, tmp_path: Path) -> None:
    (tmp_path / "down").touch()
    app = daytwo.App(db_url)

    @app.workflow(name="order")
    def order(ctx: daytwo.Context, number: int) -> int:  # the code lives in the workers
        raise AssertionError("not run here")

    try:
        for n in range(3):
            app.start("order", n, id=f"o{n}")
        env = {DIRECTORY_ENV: str(tmp_path)}
        spec = "workloads.breaker_app:app"
        with worker_pool(db_url, tmp_path / "effects.log", tmp_path) as pool:
            first = pool.spawn(concurrency=2, lease_seconds=2, app_spec=spec, env=env)

            def state() -> BreakerState | None:
                found = {s.name: s.state for s in app.breakers.list()}
                return found.get("pay")

            wait_until(lambda: state() is BreakerState.OPEN, timeout=60, what="the circuit opens")
            (tmp_path / "hang").touch()
            (tmp_path / "down").unlink()

            def probing() -> bool:
                with app.store.read() as conn:
                    return bool(
                        conn.execute(
                            sa.select(sa.func.count()).select_from(breaker_probes)
                        ).scalar_one()
                    )

            wait_until(probing, timeout=60, what="a probe takes its permit")
            first.kill()  # inside the probe's call
            (tmp_path / "hang").unlink()
            pool.spawn(concurrency=2, lease_seconds=2, app_spec=spec, env=env)

            def done() -> bool:
                return {app.get(f"o{n}").status for n in range(3)} == {
                    daytwo.InstanceStatus.SUCCEEDED
                }

            wait_until(done, timeout=90, what=f"every instance succeeds\n{pool.outputs()}")
        assert state() is BreakerState.CLOSED
    finally:
        app.close()
