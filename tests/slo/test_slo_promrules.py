"""Generated Prometheus rules: checked by the real promtool and run by its unit tests."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from _prometheus import find_or_install, run_promtool
from typer.testing import CliRunner

from daytwo import slo
from daytwo.cli._main import app as cli
from daytwo.slo._promrules import (
    ABSENT_FOR,
    ALERT_ABSENT,
    ALERT_BURN,
    ALERT_NO_DATA,
    prometheus_rules,
    prometheus_rules_yaml,
)

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
    slo.Objective(
        name="pay.monthly", workflow="pay", version="v2", sli=slo.Success(), objective=0.999,
        window="month",
        alerting=slo.AlertPolicy(no_data="2h", runbook="https://runbooks/pay",
                                 labels={"team": "payments"}, min_events=0),
    ),
]  # fmt: skip


@pytest.fixture(scope="session")
def promtool() -> str:
    """promtool, installed by scripts/promtool (the distribution's prometheus package)."""
    path, why = find_or_install("promtool")
    if path is None:
        pytest.fail(
            "promtool is needed to check the generated Prometheus rules and could not be "
            f"installed by scripts/promtool:\n{why}"
        )
    return path


def _rules(data: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for group in data["groups"]:
        yield from group["rules"]


def test_generated_rules_pass_promtool_check(promtool: str, tmp_path: Path) -> None:
    text = prometheus_rules_yaml(OBJECTIVES)
    (tmp_path / "rules.yaml").write_text(text)
    out = run_promtool(promtool, "check", "rules", "rules.yaml", cwd=tmp_path)
    assert "SUCCESS" in out
    # Spelled out for a reviewer: no YAML anchors or aliases for the labels rules share.
    assert not re.search(r"[&*]id\d+", text), text
    rules = list(_rules(prometheus_rules(OBJECTIVES)))
    for rule in rules:
        if "record" in rule:  # level:metric:operations
            assert re.fullmatch(r"slo:daytwo_slo_[a-z_]+:[a-z_]+\d+[smhd]", rule["record"]), rule
        # Every series /metrics reports is taken once however many workers are scraped.
        expr = rule["expr"]
        for match in re.finditer(r"\bdaytwo_slo_[a-z_]+(?=\{)", expr):
            before = expr[: match.start()]
            assert re.search(
                r"(max without \(instance\) \(((increase|sum_over_time)\()?|absent\()$", before
            ), (match.group(), expr)
        assert "sum(" not in expr and "max by" not in expr
    alerts = {r["alert"] for r in rules if "alert" in r}
    assert alerts == {ALERT_BURN, ALERT_NO_DATA, ALERT_ABSENT}
    assert all("{{ $value" in r["annotations"]["summary"] for r in rules
               if r.get("alert") in (ALERT_BURN, ALERT_NO_DATA))  # fmt: skip


def _alert(
    rules: dict[str, Any], name: str, alertname: str, severity: str, value: str | None
) -> dict[str, Any]:
    """What promtool should report for one alert; ``value`` renders ``{{ $value ...}}``
    (None: the test strips the annotations, see :func:`_without_annotations`)."""
    group = next(g for g in rules["groups"] if g["name"] == f"daytwo-slo-{name}")
    rule = next(
        r for r in group["rules"]
        if r.get("alert") == alertname and r["labels"]["severity"] == severity
    )  # fmt: skip
    labels = {"slo": name, **rule["labels"]}
    if value is None:
        return {"exp_labels": labels}
    annotations = {
        key: re.sub(r"\{\{ \$value[^}]*\}\}", value, text)
        for key, text in rule["annotations"].items()
    }
    return {"exp_labels": labels, "exp_annotations": annotations}


def _without_annotations(rules: dict[str, Any], names: set[str]) -> dict[str, Any]:
    """The burst test's values depend on how a Prometheus version extrapolates increase()
    at window edges; its question is when the alerts fire, so its text is left out."""
    stripped = copy.deepcopy(rules)
    for group in stripped["groups"]:
        if group["name"].removeprefix("daytwo-slo-") in names:
            for rule in group["rules"]:
                rule.pop("annotations", None)
    return stripped


def _series(metric: str, name: str, values: str, instance: str = "a", **labels: str) -> Any:
    text = ",".join(
        f'{k}="{v}"'
        for k, v in {"slo": name, "workflow": "order", "instance": instance, **labels}.items()
    )
    return {"series": f"{metric}{{{text}}}", "values": values}


def _promtool_test(promtool: str, tmp_path: Path, rules: dict[str, Any], tests: Any) -> None:
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules, sort_keys=False))
    suite = {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": tests}
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(suite, sort_keys=False))
    out = run_promtool(promtool, "test", "rules", "tests.yaml", cwd=tmp_path)
    assert "SUCCESS" in out


def test_promtool_unit_tests_page_on_burst_not_on_slow_burn(promtool: str, tmp_path: Path) -> None:
    # 99.9% over 30 days: the workbook's numbers (page 14.4x / 6x, ticket 3x / 1x).
    objectives = [
        slo.Objective(name=name, workflow="order", sli=slo.Success(), objective=0.999,
                      window="30d")
        for name in ("burst", "slow")
    ]  # fmt: skip
    rules = prometheus_rules(objectives)
    total, bad = "daytwo_slo_events_total", "daytwo_slo_bad_events_total"
    sli = {"sli": "success"}
    page_burst = _alert(rules, "burst", ALERT_BURN, "page", None)
    ticket_burst = _alert(rules, "burst", ALERT_BURN, "ticket", None)
    # Steady series: the ratio of the increases is exact, 0.2% / 0.1% = 2x, in any version.
    ticket_slow = _alert(rules, "slow", ALERT_BURN, "ticket", "2")
    tests = [
        {
            # 100 instances a minute; a total outage from minute 61 to 70. Two processes
            # serve the same values (instances a and b): no double counting.
            "interval": "1m",
            "input_series": [
                _series(total, "burst", "0+100x180", **sli),
                _series(bad, "burst", "0x60 100+100x9 1000x110", **sli),
                _series(total, "burst", "0+100x180", "b", **sli),
                _series(bad, "burst", "0x60 100+100x9 1000x110", "b", **sli),
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
                _series(total, "slow", "0+100x600", **sli),
                _series(bad, "slow", "0+0.2x600", **sli),
            ],
            "alert_rule_test": [
                {"eval_time": t, "alertname": ALERT_BURN, "exp_alerts": [ticket_slow]}
                for t in ("30m", "3h", "6h", "10h")
            ],
        },
    ]  # fmt: skip
    _promtool_test(promtool, tmp_path, _without_annotations(rules, {"burst"}), tests)


def test_a_retry_storm_pages_while_no_instance_ends(promtool: str, tmp_path: Path) -> None:
    """18 instances retrying against a dead dependency, none ending: the rate's valid events
    are the active instances, so the storm burns the budget while it lasts."""
    storm = slo.Objective(
        name="storm", workflow="order", window="30d",
        sli=slo.RetryRate(max_per_instance=0.05, dependency="payments-api"),
    )  # fmt: skip
    rules = prometheus_rules([storm])
    sli = {"sli": "retry_rate"}
    # One retry per instance in the last 5 min and hour: 1 / 0.05 = 20x > 14.4x.
    page = _alert(rules, "storm", ALERT_BURN, "page", "20")
    ticket = _alert(rules, "storm", ALERT_BURN, "ticket", "20")
    tests = [
        {
            "interval": "1m",
            "input_series": [
                _series("daytwo_slo_events_total", "storm", "50x70", **sli),  # no end
                _series("daytwo_slo_active_instances", "storm", "18x70", **sli),
                _series("daytwo_slo_bad_events_total", "storm", "0x60 18x10", **sli),
                # A second worker serving the same numbers changes nothing.
                _series("daytwo_slo_events_total", "storm", "50x70", "b", **sli),
                _series("daytwo_slo_active_instances", "storm", "18x70", "b", **sli),
                _series("daytwo_slo_bad_events_total", "storm", "0x60 18x10", "b", **sli),
            ],
            "alert_rule_test": [
                {"eval_time": "59m", "alertname": ALERT_BURN, "exp_alerts": []},
                {"eval_time": "63m", "alertname": ALERT_BURN, "exp_alerts": [page, ticket]},
            ],
        }
    ]  # fmt: skip
    # 61..63m: each of 5m and 1h holds 18 retries per 18 instances alive.
    _promtool_test(promtool, tmp_path, rules, tests)


def test_no_data_compares_the_last_event_with_the_time(promtool: str, tmp_path: Path) -> None:
    quiet = slo.Objective(
        name="quiet", workflow="order", sli=slo.Success(), objective=0.99, window="30d",
        alerting=slo.AlertPolicy(no_data="2h"),
    )  # fmt: skip
    rules = prometheus_rules([quiet])
    sli = {"sli": "success"}
    # promtool's clock starts at Unix time 0; the last event was at 100 s.
    no_data = _alert(rules, "quiet", ALERT_NO_DATA, "ticket", "2h 3m 20s")
    absent = _alert(rules, "quiet", ALERT_ABSENT, "page", "")
    minutes = int(ABSENT_FOR.removesuffix("m"))
    tests = [
        {
            "interval": "1m",
            "input_series": [
                _series("daytwo_slo_last_event_timestamp_seconds", "quiet", "100x125", **sli),
            ],
            "alert_rule_test": [
                # A fresh Prometheus holding a few samples: an event 20 s ago is no gap.
                {"eval_time": "2m", "alertname": ALERT_NO_DATA, "exp_alerts": []},
                {"eval_time": "1h59m", "alertname": ALERT_NO_DATA, "exp_alerts": []},
                {"eval_time": "2h5m", "alertname": ALERT_NO_DATA, "exp_alerts": [no_data]},
                {"eval_time": "2h5m", "alertname": ALERT_ABSENT, "exp_alerts": []},
                # The exporter vanished at 2h5m: its series go stale after Prometheus's 5 min
                # lookback; the absent alert fires once that lasted ABSENT_FOR. No-data
                # cannot fire without the series, which is why absent exists.
                {"eval_time": f"{2 * 60 + 10 + minutes + 1}m", "alertname": ALERT_ABSENT,
                 "exp_alerts": [absent]},
                {"eval_time": f"{2 * 60 + 10 + minutes + 1}m", "alertname": ALERT_NO_DATA,
                 "exp_alerts": []},
            ],
        }
    ]  # fmt: skip
    _promtool_test(promtool, tmp_path, rules, tests)


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
    page = next(a for a in alerts if a["alert"] == ALERT_BURN and a["labels"]["severity"] == "page")
    assert "> 14.4" in page["expr"] and "> 6\n" in page["expr"]
    # The budget 1 - 0.999 as written, not 0.0010000000000000009.
    assert "/ 0.001\n" in result.stdout
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
