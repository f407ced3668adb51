"""Prometheus /metrics scraped over loopback: the store's values, the engine's measurements."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from _harness import free_port, wait_until
from _shop import quietly
from prometheus_client.parser import text_string_to_metric_families

import daytwo
from daytwo import slo
from daytwo.slo._metrics import MetricsService, StoreCollector, serve_metrics
from daytwo.store._schema import instances

HOUR = 3600.0

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


OBJECTIVES = [
    slo.Objective(name="order-success", workflow="order", sli=slo.Success(), objective=0.9,
                  window="1d"),
    slo.Objective(name="order-fast", workflow="order", sli=slo.CycleTime(within="1h"),
                  objective=0.9, window="1d"),
    slo.Objective(name="order-retries", workflow="order",
                  sli=slo.RetryRate(max_per_instance=0.5, dependency="payments-api"),
                  window="1d"),
    slo.Objective(name="order-stuck", workflow="order",
                  sli=slo.StuckRatio(thresholds={"go": "30m"}), objective=0.98, window="1d"),
]  # fmt: skip


def scrape(port: int) -> Samples:
    """GET /metrics over loopback and parse it with prometheus_client's parser."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[sample.name, frozenset(sample.labels.items())] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[name, frozenset(labels.items())]


def cycle_times(app: daytwo.App, workflow: str) -> float:
    """The sum of created -> finished of the ended instances, recounted from the rows."""
    with app.store.read() as conn:
        total = conn.execute(
            sa.select(sa.func.sum(instances.c.finished_at - instances.c.created_at)).where(
                instances.c.workflow == workflow, instances.c.finished_at.is_not(None)
            )
        ).scalar_one()
    return float(total or 0.0)


@pytest.fixture
def served(shop: daytwo.App) -> Iterator[int]:
    server, _thread = serve_metrics(StoreCollector.for_app(shop, OBJECTIVES), 0, "127.0.0.1")
    yield server.server_port
    server.shutdown()
    server.server_close()


def test_metrics_endpoint_reports_the_store(
    shop: daytwo.App, clock: daytwo.FakeClock, served: int
) -> None:
    for spec in [{}, {}, {"flaky": True}, {"flaky": True}, {"reject": True}]:
        quietly(shop, "order", spec)
        clock.advance(60)
    quietly(shop, "order", {"signal": "go"}, id="waiting", timeout=0)
    samples = scrape(served)
    version = dict(shop.registry.pairs())["order"]
    who = {"workflow": "order", "version": version}
    assert value(samples, "daytwo_instances_started_total", **who) == 6
    assert value(samples, "daytwo_instances_completed_total", **who, outcome="succeeded") == 4
    assert value(samples, "daytwo_instances_completed_total", **who, outcome="compensated") == 1
    assert value(samples, "daytwo_step_retries_total", **who, step="charge") == 2
    assert value(samples, "daytwo_compensations_total", **who, step="charge") == 1
    # Histogram: every instance took under a second of fake time (retries wait 1 s each).
    assert value(samples, "daytwo_instance_cycle_time_seconds_count", **who) == 5
    assert value(samples, "daytwo_instance_cycle_time_seconds_bucket", **who, le="+Inf") == 5
    assert value(samples, "daytwo_instance_cycle_time_seconds_bucket", **who, le="5.0") == 5
    # ... and its exact sum, from the same aggregates: _sum / _count is the mean cycle time.
    assert value(samples, "daytwo_instance_cycle_time_seconds_sum", **who) == pytest.approx(
        cycle_times(shop, "order"), abs=1e-6
    )
    assert value(samples, "daytwo_instances", **who, status="WAITING", state="go") == 1
    # Per SLO: the counters since the beginning equal the engine's counts over a window that
    # holds the whole history; budget and burn rates are the engine's.
    statuses = {s.name: s for s in slo.Evaluator.for_app(shop, OBJECTIVES).status()}
    for name in ("order-success", "order-fast", "order-retries"):
        status = statuses[name]
        sli = {"slo": name, "workflow": "order", "sli": status.kind}
        # Rates: the window's valid events are the ended instances plus those active now.
        rate = name == "order-retries"
        active = value(samples, "daytwo_slo_active_instances", **sli) if rate else 0
        assert value(samples, "daytwo_slo_events_total", **sli) + active == status.valid
        assert value(samples, "daytwo_slo_bad_events_total", **sli) == status.bad
        remaining = value(samples, "daytwo_slo_error_budget_remaining_ratio", **sli)
        assert remaining == pytest.approx(status.budget_remaining)
        assert value(samples, "daytwo_slo_burn_rate", **sli, window="1h") == pytest.approx(
            status.burn["1h"]
        )
        assert value(samples, "daytwo_slo_error_budget_ratio", **sli) == status.budget
        last = value(samples, "daytwo_slo_last_event_timestamp_seconds", **sli)
        assert last == status.last_event_at
    retries = {"slo": "order-retries", "workflow": "order", "sli": "retry_rate"}
    assert value(samples, "daytwo_slo_active_instances", **retries) == 1  # the waiting one
    assert statuses["order-retries"].valid == 6
    assert value(
        samples, "daytwo_slo_bad_events_total",
        slo="order-success", workflow="order", sli="success",
    ) == 1  # fmt: skip
    stuck = {"slo": "order-stuck", "workflow": "order", "sli": "stuck_ratio"}
    assert value(samples, "daytwo_slo_sample_events", **stuck) == 1
    assert value(samples, "daytwo_slo_sample_bad_events", **stuck) == 0
    clock.advance(HOUR + 60)  # the waiting instance is now stuck (30 min) and past its 1 h target
    samples = scrape(served)
    assert value(samples, "daytwo_instances_stuck", **who, state="go") == 1
    assert value(samples, "daytwo_slo_sample_bad_events", **stuck) == 1
    fast = {"slo": "order-fast", "workflow": "order", "sli": "cycle_time"}
    assert value(samples, "daytwo_slo_bad_events_total", **fast) == 1
    assert value(samples, "daytwo_slo_events_total", **fast) == 6


def test_counters_only_grow_and_every_process_agrees(
    shop: daytwo.App, clock: daytwo.FakeClock, served: int
) -> None:
    fast = {"slo": "order-fast", "workflow": "order", "sli": "cycle_time"}
    quietly(shop, "order", {"signal": "go"}, id="late", timeout=0)
    clock.advance(2 * HOUR)  # past its 1 h target: bad at once
    before = scrape(served)
    assert value(before, "daytwo_slo_bad_events_total", **fast) == 1
    shop.signal("late", "go", None)
    with shop.worker(concurrency=1, poll_interval=0.01):
        shop.handle("late").result(timeout=10)
    for _ in range(3):  # later hours, so the first collector caches settled hours
        clock.advance(2 * HOUR)
        quietly(shop, "order", {})
    after = scrape(served)
    # The late instance ended late: it moved from "active past target" to the late bins.
    assert value(after, "daytwo_slo_bad_events_total", **fast) == 1
    assert value(after, "daytwo_slo_events_total", **fast) == 4
    for key, number in before.items():
        if key[0].endswith("_total"):
            assert after[key] >= number, key
    # A second process (a fresh collector, no cache) reports the same cluster-wide values.
    other = MetricsService(StoreCollector.for_app(shop, OBJECTIVES), 0, "127.0.0.1")
    other.run_once()
    try:
        assert other.server is not None
        again = scrape(other.server.server_port)
    finally:
        other.close()
    counters = {
        k: v for k, v in after.items() if k[0].endswith(("_total", "_bucket", "_count", "_sum"))
    }
    assert counters == {k: v for k, v in again.items() if k in counters}
    assert any(name.endswith("_sum") for name, _labels in counters)


def test_exposition_writes_numbers_without_float_noise(shop: daytwo.App, served: int) -> None:
    quietly(shop, "order", {"reject": True})
    with urllib.request.urlopen(f"http://127.0.0.1:{served}/metrics", timeout=10) as response:
        text = response.read().decode()
    # 1 - 0.9 is 0.09999999999999998 in binary floats; the budget is 0.1 as written.
    sli = 'sli="success",slo="order-success",workflow="order"'
    assert f"daytwo_slo_error_budget_ratio{{{sli}}} 0.1\n" in text
    assert f"daytwo_slo_objective_ratio{{{sli}}} 0.9\n" in text
    noisy = re.findall(r"\d\.\d*(?:0{9,}|9{9,})\d+", text)
    assert noisy == [], noisy


def test_a_worker_closes_its_metrics_service_when_it_stops(shop: daytwo.App) -> None:
    service = MetricsService(StoreCollector.for_app(shop, OBJECTIVES), 0, "127.0.0.1")
    with shop.worker(concurrency=1, services=[service]):
        wait_until(lambda: service.server is not None, timeout=10, what="/metrics to start")
        assert service.server is not None
        port = service.server.server_port
        assert any(name == "daytwo_slo_error_budget_ratio" for name, _ in scrape(port))
    assert service.server is None
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5)


def test_metrics_serve_command(shop: daytwo.App, db_url: str, tmp_path: Path) -> None:
    quietly(shop, "order", {})
    env = {**os.environ, "DAYTWO_DATABASE": db_url, "COLUMNS": "300"}
    env.pop("DAYTWO_APP", None)
    process = subprocess.Popen(
        [sys.executable, "-c", "from daytwo.cli import main; main()",
         "metrics", "serve", "--port", "0", "--address", "127.0.0.1"],
        stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        assert "/metrics" in line, line
        port = int(line.split("127.0.0.1:", 1)[1].split("/", 1)[0])
        samples = scrape(port)
        assert any(name == "daytwo_instances_completed_total" for name, _ in samples)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert process.returncode == 0


def _scrape_or_none(port: int) -> Samples | None:
    try:
        return scrape(port)
    except OSError:
        return None


def test_worker_serves_metrics(tmp_path: Path, db_url: str) -> None:
    import cli_app

    app: daytwo.App = cli_app.app
    app.database_url = db_url
    try:
        app.run("greet", {"name": "Ada"})
    finally:
        app.close()
        sys.modules.pop("cli_app", None)
    port = free_port()
    tests_dir = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": tests_dir, "DAYTWO_DATABASE": db_url}
    env.pop("DAYTWO_APP", None)
    process = subprocess.Popen(
        [sys.executable, "-c", "from daytwo.cli import main; main()", "worker", "cli_app:app",
         "--metrics-port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=tmp_path,
    )  # fmt: skip
    try:
        scraped: list[Samples] = []

        def ready() -> bool:
            samples = _scrape_or_none(port)
            if samples is not None:
                scraped.append(samples)
            return samples is not None

        wait_until(ready, timeout=30, what="the worker's /metrics")
        completed = [
            v for (name, labels), v in scraped[0].items()
            if name == "daytwo_instances_completed_total" and ("workflow", "greet") in labels
        ]  # fmt: skip
        assert completed == [1]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    assert process.returncode == 0
