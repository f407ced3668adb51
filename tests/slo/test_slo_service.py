"""The evaluator inside workers: one at a time across the cluster, via a lease row."""

from __future__ import annotations

import threading
from pathlib import Path

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


def test_daytwo_worker_adds_the_evaluator_when_the_app_has_objectives(
    fake_app: daytwo.App, tmp_path: Path
) -> None:
    from daytwo.cli._worker import _objectives, _slo_services

    assert _slo_services(fake_app, _objectives(fake_app, None, False), 60) == []
    slo.register(fake_app, *objectives())
    [service] = _slo_services(fake_app, _objectives(fake_app, None, False), 30)
    assert isinstance(service, slo.EvaluatorService) and service.interval == 30
    yaml = tmp_path / "more.yaml"
    yaml.write_text(
        "objectives:\n  - {name: w2, workflow: w, objective: 0.9, sli: {kind: success}}\n"
    )
    [service] = _slo_services(fake_app, _objectives(fake_app, [yaml], False), 60)
    assert [o.name for o in service.evaluator.objectives] == ["w-ok", "w2"]
