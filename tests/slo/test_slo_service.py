"""The evaluator inside workers: one at a time across the cluster, via a lease row."""

from __future__ import annotations

import threading
from pathlib import Path

from _harness import wait_until

import daytwo
from daytwo import slo


def objectives() -> list[slo.Objective]:
    return [slo.Objective(name="w-ok", workflow="w", objective=0.99, sli=slo.Success())]


def test_one_evaluator_at_a_time_and_takeover_after_expiry(
    fake_app: daytwo.App, clock: daytwo.FakeClock
) -> None:
    first = slo.EvaluatorService(slo.Evaluator.for_app(fake_app, objectives()), interval=60)
    second = slo.EvaluatorService(slo.Evaluator.for_app(fake_app, objectives()), interval=60)
    for _ in range(3):
        first.run_once()
        second.run_once()
        clock.advance(60)
    assert (first.evaluations, second.evaluations) == (3, 0)
    clock.advance(181)  # the first holder died: its lease (3 intervals) runs out
    second.run_once()
    first_again = slo.acquire_lease(fake_app.store, "slo-evaluator", first.owner, clock.now(), 1)
    assert second.evaluations == 1 and not first_again


class _Counter:
    name = "counter"
    interval = 0.01

    def __init__(self) -> None:
        self.calls = 0
        self.called = threading.Event()

    def run_once(self) -> None:
        self.calls += 1
        if self.calls >= 2:
            self.called.set()
        if self.calls == 1:
            raise RuntimeError("a failing round is logged and retried")


def test_worker_runs_background_services(fake_app: daytwo.App) -> None:
    @fake_app.workflow(name="w")
    def w(ctx: daytwo.Context, _: None) -> None:
        return None

    counter = _Counter()
    assert isinstance(counter, daytwo.worker.BackgroundService)
    with fake_app.worker(concurrency=1, services=[counter]):
        assert counter.called.wait(10)


def _evaluators(app: daytwo.App) -> list[slo.EvaluatorService]:
    worker = app.worker(concurrency=1)
    return [s for s in worker.services if isinstance(s, slo.EvaluatorService)]


def test_an_app_worker_runs_the_evaluator_when_the_app_has_objectives(
    fake_app: daytwo.App, tmp_path: Path
) -> None:
    assert _evaluators(fake_app) == []  # no objectives: no SLO extension, no evaluator
    slo.register(fake_app, *objectives())
    [service] = _evaluators(fake_app)
    assert service.interval == 60
    assert [o.name for o in service.evaluator.objectives] == ["w-ok"]
    # daytwo worker's options go through the same extension: what it runs is app.worker()'s.
    from daytwo.slo.cli import configure_worker

    yaml = tmp_path / "more.yaml"
    yaml.write_text(
        "objectives:\n  - {name: w2, workflow: w, objective: 0.9, sli: {kind: success}}\n"
    )
    notes = configure_worker(fake_app, {"slo_objectives": [yaml], "slo_interval": 30.0})
    assert notes == ["SLO evaluation every 30 s"]
    [service] = _evaluators(fake_app)
    assert service.interval == 30
    assert [o.name for o in service.evaluator.objectives] == ["w-ok", "w2"]


def test_an_app_worker_started_from_python_evaluates_registered_objectives(
    fake_app: daytwo.App, clock: daytwo.FakeClock
) -> None:
    @fake_app.workflow(name="w")
    def w(ctx: daytwo.Context, _: None) -> None:
        return None

    slo.register(fake_app, *objectives())
    with fake_app.worker(concurrency=1) as worker:
        fake_app.start(w)
        worker.drain()
        [service] = [s for s in worker.services if isinstance(s, slo.EvaluatorService)]
        wait_until(lambda: service.evaluations > 0, timeout=30, what="an evaluation")
    [status] = slo.Evaluator.for_app(fake_app).status()
    assert status.name == "w-ok" and status.sli == 1.0
    assert slo.definition_history(fake_app.store, "w-ok")  # recorded by the evaluation
