"""The generated rules loaded into a real Prometheus server that scrapes a daytwo /metrics.

promtool's unit tests feed series the test writes; these tests let a real server scrape
(every second, on loopback) what daytwo serves and evaluate the rules against it, with
the server's own clock: a fresh server holding a few samples, and an exporter that goes
away. They wait on the server's state (alerts, rule evaluations), not for set durations.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from _harness import wait_until
from _prometheus import PrometheusServer, find_or_install
from _shop import quietly, register_shop

import daytwo
from daytwo import slo
from daytwo.slo._metrics import StoreCollector, serve_metrics
from daytwo.slo._promrules import ALERT_ABSENT, ALERT_NO_DATA, prometheus_rules_yaml

HOUR = 3600.0

NO_DATA = slo.AlertPolicy(no_data="1h")
FRESH = slo.Objective(name="order-fresh", workflow="order", sli=slo.Success(), objective=0.9,
                      window="1d", alerting=NO_DATA)  # fmt: skip
STALE = slo.Objective(name="plain-stale", workflow="plain", sli=slo.Success(), objective=0.9,
                      window="1d", alerting=NO_DATA)  # fmt: skip
#: What daytwo generated before the last-event timestamp: true on any flat counter.
OLD_NO_DATA = f'increase(daytwo_slo_events_total{{slo="{FRESH.name}"}}[1h]) == 0'


@pytest.fixture(scope="session")
def prometheus() -> str:
    """The Prometheus server binary, installed by scripts/prometheus when missing."""
    path, why = find_or_install("prometheus")
    if path is None:
        pytest.skip(f"no Prometheus server to test the rules in (scripts/prometheus: {why})")
    return path


@pytest.fixture
def history(db_url: str) -> Iterator[daytwo.App]:
    """``plain`` last ended two hours ago, ``order`` five seconds ago (real time)."""
    now = time.time()
    clock = daytwo.FakeClock(now - 2 * HOUR)
    app = register_shop(daytwo.App(db_url, clock=clock))
    quietly(app, "plain", False)
    clock.set(now - 5)
    quietly(app, "order", {})
    clock.set(now)
    yield app
    app.close()


def _alerts(server: PrometheusServer, alertname: str) -> dict[str, str]:
    """slo -> state (pending, firing) of the active alerts named ``alertname``."""
    return {
        alert["labels"]["slo"]: alert["state"]
        for alert in server.alerts()
        if alert["labels"]["alertname"] == alertname
    }


def _evaluated_at(server: PrometheusServer, group: str) -> float:
    """When the server last evaluated the rule group ``group`` (Unix time)."""
    groups: list[dict[str, Any]] = server.api("rules")["groups"]
    stamp = next(g["lastEvaluation"] for g in groups if g["name"] == group)
    # Go writes nanoseconds; Python reads up to microseconds.
    stamp = re.sub(r"(\.\d{6})\d*", r"\1", stamp).replace("Z", "+00:00")
    return datetime.fromisoformat(stamp).timestamp()


@pytest.mark.backends("sqlite")  # about Prometheus's semantics: any store serves the same
def test_no_data_and_absent_alerts_in_a_real_prometheus(
    history: daytwo.App, prometheus: str, tmp_path: Path
) -> None:
    objectives = [FRESH, STALE]
    statuses = {s.name: s for s in slo.Evaluator.for_app(history, objectives).status()}
    assert (statuses[FRESH.name].no_data, statuses[STALE.name].no_data) == (False, True)
    server, _thread = serve_metrics(StoreCollector.for_app(history, objectives), 0, "127.0.0.1")
    target = f"127.0.0.1:{server.server_port}"
    (tmp_path / "prometheus").mkdir()
    rules = prometheus_rules_yaml(objectives)
    served = True
    try:
        with PrometheusServer(prometheus, tmp_path / "prometheus", [target], rules) as prom:
            # The objective whose last event is two hours old: no data, as the engine says.
            wait_until(
                lambda: _alerts(prom, ALERT_NO_DATA).get(STALE.name) == "firing",
                timeout=30, what=f"{ALERT_NO_DATA} for {STALE.name}\n{prom.log()}",
            )  # fmt: skip
            # The fresh one: once the server holds enough samples for the old rule to be
            # true, and has evaluated the rules after that, nothing is pending or firing.
            wait_until(lambda: bool(prom.query(OLD_NO_DATA)), timeout=30, what=OLD_NO_DATA)
            since = time.time()
            wait_until(
                lambda: _evaluated_at(prom, f"daytwo-slo-{FRESH.name}") > since + 0.1,
                timeout=30, what="one more rule evaluation",
            )  # fmt: skip
            assert FRESH.name not in _alerts(prom, ALERT_NO_DATA)
            assert _alerts(prom, ALERT_ABSENT) == {}
            # The exporter goes away: no-data cannot tell (its series are gone), the
            # absent alert does (pending for ABSENT_FOR, then firing).
            server.shutdown()
            server.server_close()
            served = False
            wait_until(
                lambda: _alerts(prom, ALERT_ABSENT) == {FRESH.name: "pending",
                                                        STALE.name: "pending"},
                timeout=30, what=f"{ALERT_ABSENT} for both objectives\n{prom.log()}",
            )  # fmt: skip
            assert _alerts(prom, ALERT_NO_DATA) == {}
    finally:
        if served:
            server.shutdown()
            server.server_close()
