"""Prometheus: /metrics scraped over loopback; generated rules checked and tested by promtool."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from _harness import free_port, wait_until
from _shop import quietly
from conftest import ROOT
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

import daytwo
from daytwo import slo
from daytwo.cli._main import app as cli
from daytwo.slo._metrics import MetricsService, StoreCollector, serve_metrics
from daytwo.slo._promrules import ALERT_BURN, prometheus_rules, prometheus_rules_yaml

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
    quietly(shop, "order", {"signal": "go"}, id="waiting", timeout=0.01)
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
    assert value(samples, "daytwo_instances", **who, status="WAITING", state="go") == 1
    # Per SLO: the counters since the beginning equal the engine's counts over a window that
    # holds the whole history; budget and burn rates are the engine's.
    statuses = {s.name: s for s in slo.Evaluator.for_app(shop, OBJECTIVES).status()}
    for name in ("order-success", "order-fast", "order-retries"):
        status = statuses[name]
        sli = {"slo": name, "workflow": "order", "sli": status.kind}
        assert value(samples, "daytwo_slo_events_total", **sli) == status.valid
        assert value(samples, "daytwo_slo_bad_events_total", **sli) == status.bad
        remaining = value(samples, "daytwo_slo_error_budget_remaining", **sli)
        assert remaining == pytest.approx(status.budget_remaining)
        assert value(samples, "daytwo_slo_burn_rate", **sli, window="1h") == pytest.approx(
            status.burn["1h"]
        )
        assert value(samples, "daytwo_slo_error_budget", **sli) == pytest.approx(status.budget)
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
    quietly(shop, "order", {"signal": "go"}, id="late", timeout=0.01)
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
    counters = {k: v for k, v in after.items() if k[0].endswith(("_total", "_bucket", "_count"))}
    assert counters == {k: v for k, v in again.items() if k in counters}


def test_a_worker_closes_its_metrics_service_when_it_stops(shop: daytwo.App) -> None:
    service = MetricsService(StoreCollector.for_app(shop, OBJECTIVES), 0, "127.0.0.1")
    with shop.worker(concurrency=1, services=[service]):
        wait_until(lambda: service.server is not None, timeout=10, what="/metrics to start")
        assert service.server is not None
        port = service.server.server_port
        assert any(name == "daytwo_slo_error_budget" for name, _ in scrape(port))
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
    tests_dir = str(Path(__file__).resolve().parent)
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


# -- rules -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def promtool() -> str:
    """promtool, installed by scripts/promtool (the distribution's prometheus package)."""
    found = shutil.which("promtool")
    if found:
        return found
    result = subprocess.run(
        [str(ROOT / "scripts" / "promtool")], capture_output=True, text=True, timeout=600
    )
    if result.returncode != 0 or not result.stdout.strip():
        pytest.fail(
            "promtool is needed to check the generated Prometheus rules and could not be "
            f"installed by scripts/promtool:\n{result.stderr}"
        )
    return result.stdout.strip().splitlines()[-1]


def run_promtool(promtool: str, *args: str, cwd: Path) -> str:
    result = subprocess.run([promtool, *args], capture_output=True, text=True, cwd=cwd, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_generated_rules_pass_promtool_check(promtool: str, tmp_path: Path) -> None:
    objectives = [
        *OBJECTIVES,
        slo.Objective(
            name="pay.monthly", workflow="pay", version="v2", sli=slo.Success(), objective=0.999,
            window="month",
            alerting=slo.AlertPolicy(no_data="2h", runbook="https://runbooks/pay",
                                     labels={"team": "payments"}, min_events=0),
        ),
    ]  # fmt: skip
    (tmp_path / "rules.yaml").write_text(prometheus_rules_yaml(objectives))
    out = run_promtool(promtool, "check", "rules", "rules.yaml", cwd=tmp_path)
    assert "SUCCESS" in out


def _alert(rules: dict[str, Any], name: str, severity: str) -> dict[str, Any]:
    group = next(g for g in rules["groups"] if g["name"] == f"daytwo-slo-{name}")
    rule = next(r for r in group["rules"] if r.get("alert") and r["labels"]["severity"] == severity)
    labels = {"slo": name, **rule["labels"]}
    return {"exp_labels": labels, "exp_annotations": rule["annotations"]}


def test_promtool_unit_tests_page_on_burst_not_on_slow_burn(promtool: str, tmp_path: Path) -> None:
    # 99.9% over 30 days: the workbook's numbers (page 14.4x / 6x, ticket 3x / 1x).
    objectives = [
        slo.Objective(name=name, workflow="order", sli=slo.Success(), objective=0.999,
                      window="30d")
        for name in ("burst", "slow")
    ]  # fmt: skip
    rules = prometheus_rules(objectives)
    (tmp_path / "rules.yaml").write_text(prometheus_rules_yaml(objectives))

    def series(metric: str, slo_name: str, values: str, instance: str = "a") -> dict[str, str]:
        labels = f'slo="{slo_name}",workflow="order",sli="success",instance="{instance}"'
        return {"series": f"{metric}{{{labels}}}", "values": values}

    total, bad = "daytwo_slo_events_total", "daytwo_slo_bad_events_total"
    page_burst, ticket_burst = _alert(rules, "burst", "page"), _alert(rules, "burst", "ticket")
    ticket_slow = _alert(rules, "slow", "ticket")
    tests = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                # 100 instances a minute; a total outage from minute 61 to 70. Two processes
                # serve the same values (instances a and b): no double counting.
                "interval": "1m",
                "input_series": [
                    series(total, "burst", "0+100x180"),
                    series(bad, "burst", "0x60 100+100x9 1000x110"),
                    series(total, "burst", "0+100x180", "b"),
                    series(bad, "burst", "0x60 100+100x9 1000x110", "b"),
                ],
                "alert_rule_test": [
                    {"eval_time": "60m", "alertname": ALERT_BURN, "exp_alerts": []},
                    # The page fires within minutes of the outage (1h & 5m above 14.4x).
                    {"eval_time": "63m", "alertname": ALERT_BURN,
                     "exp_alerts": [page_burst, ticket_burst]},
                    # 35 min after the outage: 5m and 30m windows are clean, no page; the
                    # 2h window still burns above 3x, so the ticket stays.
                    {"eval_time": "105m", "alertname": ALERT_BURN, "exp_alerts": [ticket_burst]},
                ],
            },
            {
                # A steady error rate of 2x the budget (0.2% of 100 a minute) for 10 hours.
                "interval": "1m",
                "input_series": [
                    series(total, "slow", "0+100x600"),
                    series(bad, "slow", "0+0.2x600"),
                ],
                "alert_rule_test": [
                    {"eval_time": t, "alertname": ALERT_BURN, "exp_alerts": [ticket_slow]}
                    for t in ("30m", "3h", "6h", "10h")
                ],
            },
        ],
    }  # fmt: skip
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(tests, sort_keys=False))
    out = run_promtool(promtool, "test", "rules", "tests.yaml", cwd=tmp_path)
    assert "SUCCESS" in out


def test_export_prometheus_rules_command(tmp_path: Path, promtool: str) -> None:
    path = tmp_path / "slos.yaml"
    path.write_text(
        "objectives:\n"
        "  - name: checkout\n    workflow: order\n    sli: {kind: success}\n"
        "    objective: 0.999\n    window: 30d\n"
    )
    result = CliRunner().invoke(
        cli, ["slo", "export", "prometheus-rules", "--objectives", str(path)]
    )
    assert result.exit_code == 0, result.stderr
    rules = yaml.safe_load(result.stdout)
    alerts = [r for g in rules["groups"] for r in g["rules"] if "alert" in r]
    assert {a["labels"]["severity"] for a in alerts} == {"page", "ticket"}
    page = next(a for a in alerts if a["labels"]["severity"] == "page")
    assert "> 14.4" in page["expr"] and "> 6\n" in page["expr"]
    (tmp_path / "rules.yaml").write_text(result.stdout)
    run_promtool(promtool, "check", "rules", "rules.yaml", cwd=tmp_path)
    empty = CliRunner().invoke(cli, ["slo", "export", "prometheus-rules"])
    assert empty.exit_code != 0 and "no objectives" in empty.stderr


def test_thresholds_scale_with_the_window() -> None:
    objective = slo.Objective(
        name="weekly", workflow="order", sli=slo.Success(), objective=0.99, window="7d"
    )
    rules = prometheus_rules([objective])["groups"][0]["rules"]
    page = next(r for r in rules if r.get("alert") and r["labels"]["severity"] == "page")
    # 2% of 7 days in 1 h: 3.36; 5% of 7 days in 6 h: 1.4 — as BurnRateRule.threshold.
    expected = [rule.threshold(objective.window) for rule in slo.WORKBOOK_RULES[:2]]
    assert expected == pytest.approx([3.36, 1.4])
    assert "> 3.36\n" in page["expr"] and "> 1.4\n" in page["expr"]
    assert timedelta(hours=1) == slo.WORKBOOK_RULES[0].long_window
